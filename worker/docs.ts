// GET /docs: the interactive API reference (Scalar) of /openapi.json. Its script is Scalar's browser
// bundle, copied into our static assets by `npm run build:docs`: no CDN, so it works offline.
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";

/** Where `scripts/build-docs.mjs` puts the bundle under dist/web (served by the `[assets]` binding). */
export const SCALAR_SCRIPT = "/vendor/scalar/standalone.js";

/**
 * Scripts from our origin only, plus Scalar's inline start-up script, which carries the per-response
 * nonce. Styles from our origin and inline (Scalar needs them). `connect-src 'self'` lets the
 * "Test request" client call this API and nothing else.
 */
function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    // Scalar adds <style> elements (its themes) and style attributes as it renders, without the nonce;
    // styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    // Like every answer of the Worker (X-Frame-Options: DENY): no page may frame it.
    "frame-ancestors 'none'",
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
    // Its toolbar offers Scalar's hosted services ("Share", "Deploy") on localhost.
    showDeveloperTools: "never",
  })(c, next);
});
