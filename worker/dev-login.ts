// Development sign-in for the chat page: POST /api/dev/token signs a token for any user id, and exists only when DEV_LOGIN is set.
import { Hono } from "hono";
import { SignJWT } from "jose";
import * as z from "zod";
import { getConfig } from "./config";
import { text } from "./validation";

/** DEV_LOGIN turns the endpoint on; it is a local setting (npm start, the tests), absent from wrangler.toml. */
export const devLoginEnabled = (env: { DEV_LOGIN?: string }) => /^(1|true|yes|on)$/i.test(env.DEV_LOGIN?.trim() ?? "");

const inputSchema = z.strictObject({
  // The same characters `npm run token` users type; no spaces, so the id reads well in lists and logs.
  userId: text()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/, "userId must be 1–64 letters, digits or . _ : @ - (starting with a letter or digit)")
    .optional(),
  name: text().trim().min(1).max(100).optional(),
  admin: z.boolean().optional(),
});

/** How long a development token lasts; the page signs in again when it has expired. */
const TTL_SECONDS = 24 * 3600;

export function devLogin() {
  const app = new Hono<{ Bindings: Env }>();

  app.post("/api/dev/token", async (c, next) => {
    // Off: fall through to the app's 404, so a deployed Worker does not even reveal the route.
    if (!devLoginEnabled(c.env)) return next();
    let body: unknown = {};
    const raw = await c.req.text();
    if (raw.trim() !== "") {
      try {
        body = JSON.parse(raw);
      } catch {
        return c.json({ code: "BAD_REQUEST", message: "request body is not JSON" }, 400);
      }
    }
    const parsed = inputSchema.safeParse(body);
    if (!parsed.success) {
      return c.json(
        { code: "BAD_REQUEST", message: z.prettifyError(parsed.error), issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) },
        400,
      );
    }
    const secret = getConfig(c.env).JWT_SECRET;
    if (!secret) {
      return c.json({ code: "NOT_IMPLEMENTED", message: "development sign-in needs JWT_SECRET (tokens from a JWKS cannot be signed here)" }, 501);
    }
    const userId = parsed.data.userId ?? `dev-${crypto.randomUUID().slice(0, 8)}`;
    const role = parsed.data.admin ? "admin" : "user";
    const claims: Record<string, string> = {};
    if (role === "admin") claims.role = "admin";
    if (parsed.data.name) claims.name = parsed.data.name;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${TTL_SECONDS}s`)
      .sign(new TextEncoder().encode(secret));
    return c.json({ token, userId, role, expiresIn: TTL_SECONDS });
  });

  return app;
}
