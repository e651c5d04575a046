// Secrets and local-only vars that `wrangler types` cannot see (they are not in wrangler.toml).
declare namespace Cloudflare {
  interface Env {
    DATABASE_URL: string;
    JWT_SECRET?: string;
    SESSION_ID_SECRET?: string;
    JWT_JWKS_URL?: string;
    DB_WS_PROXY?: string;
    VERSION?: string;
    /** Local only: turns on POST /api/dev/token (development sign-in for the chat page). */
    DEV_LOGIN?: string;
    /** Demo agents: milliseconds between the words of a streamed reply (default 15). */
    DEMO_STREAM_GAP_MS?: string;
  }
}
