// GET /docs: the interactive API reference (Scalar) of /openapi.json. Its script is Scalar's browser
// bundle, copied into our static assets by `npm run build:docs`: no CDN, so it works offline.
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";

/** Where `scripts/build-docs.mjs` puts the bundle under dist/web (served by the `[assets]` binding). */
export const SCALAR_SCRIPT = "/vendor/scalar/standalone.js";

/**
 * Same-origin scripts and styles only. The page's two inline pieces (Scalar's start-up script and
 * theme) and the stylesheet the bundle injects carry the per-response nonce; `connect-src 'self'`
 * lets the "Test request" client call this API and nothing else.
 */
function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
  ].join("; ");
}

function newNonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

export const docs = new Hono();

docs.get("/docs", (c, next) => {
  const nonce = newNonce();
  c.header("content-security-policy", contentSecurityPolicy(nonce));
  // A nonce is for one response only.
  c.header("cache-control", "no-store");
  return Scalar({
    url: "/openapi.json",
    cdn: SCALAR_SCRIPT,
    nonce,
    pageTitle: "Edge chat API",
    // Scalar's defaults reach out to its own servers: fonts, telemetry, its AI agent and MCP offers.
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    authentication: { preferredSecurityScheme: "bearerAuth" },
  })(c, next);
});
