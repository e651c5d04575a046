// Secrets and local-only vars that `wrangler types` cannot see (they are not in wrangler.toml).
declare namespace Cloudflare {
  interface Env {
    DATABASE_URL: string;
    JWT_SECRET?: string;
    SESSION_ID_SECRET?: string;
    JWT_JWKS_URL?: string;
    DB_WS_PROXY?: string;
    VERSION?: string;
  }
}
