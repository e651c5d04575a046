// The users, tokens and real sessions a fuzz file works against, and the ways to present (or botch) a token.
import fc from "fast-check";
import { SignJWT } from "jose";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { api, token } from "../helpers";
import { headerSafeText } from "./arbitraries";

export interface Actor {
  id: string;
  token: string;
}

/** Who sends a request: the Authorization header (or its absence) and the token alone (for sockets). */
export class Auth {
  constructor(
    readonly header: string | undefined,
    readonly token: string | undefined,
    readonly label: string,
  ) {}
  [fc.toStringMethod]() {
    return this.label;
  }
}

export interface World {
  /** Owns `sessions.a`; the main sender. */
  a: Actor;
  /** Owns `sessions.b`: another user's sessions for a. */
  b: Actor;
  admin: Actor;
  /** Creates sessions (the open-sessions limit ends a user's oldest; it must not be a's or b's). */
  creator: Actor;
  /** Owns `sessions.doomed`, the only sessions the fuzz may end. */
  ender: Actor;
  guest: Actor;
  sessions: { a: string[]; b: string[]; doomed: string[] };
  /** Tokens that must not authenticate anyone (expired, wrongly signed, unsigned, bad claims, garbage). */
  badTokens: Auth[];
}

const b64url = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

async function signed(claims: Record<string, unknown>, alg = "HS256", secret = inject("jwtSecret")) {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime("2h").sign(new TextEncoder().encode(secret));
}

async function badTokens(a: Actor): Promise<Auth[]> {
  const now = Math.floor(Date.now() / 1000);
  const [, payload] = a.token.split(".");
  const tokens: [string, string][] = [
    ["expired", await token(a.id, { expiresIn: "-1m" })],
    ["wrong-secret", await token(a.id, { secret: "not-the-secret-0123456789abcdef0123" })],
    ["alg-none", `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: a.id, iat: now, exp: now + 3600 })}.`],
    ["alg-none-admin", `${b64url({ alg: "none" })}.${b64url({ sub: a.id, role: "admin", exp: now + 3600 })}.`],
    ["HS512", await signed({ sub: a.id }, "HS512", `${inject("jwtSecret")}${inject("jwtSecret")}`)],
    ["RS256-header", `${b64url({ alg: "RS256" })}.${payload}.${b64url("sig")}`],
    ["no-sub", await signed({})],
    ["empty-sub", await signed({ sub: "" })],
    ["control-sub", await signed({ sub: "fz\u0001user" })],
    ["long-sub", await signed({ sub: "s".repeat(201) })],
    ["number-sub", await signed({ sub: 12345 })],
    ["object-sub", await signed({ sub: { id: a.id } })],
    ["nbf-future", await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(a.id).setNotBefore(now + 3600).setExpirationTime("2h").sign(new TextEncoder().encode(inject("jwtSecret")))],
    ["tampered-payload", `${a.token.split(".")[0]}.${b64url({ sub: a.id, role: "admin", exp: now + 3600 })}.${a.token.split(".")[2]}`],
    ["truncated", a.token.slice(0, -5)],
    ["two-parts", a.token.split(".").slice(0, 2).join(".")],
    ["extra-part", `${a.token}.x`],
    ["a.b.c", "a.b.c"],
    ["garbage", randomBytes(24).toString("base64")],
    ["header-not-json", `${b64url("not json")}.${payload}.x`],
    ["huge", "x".repeat(9_000)],
  ];
  return tokens.map(([label, t]) => new Auth(`Bearer ${t}`, t, `token(${label})`));
}

async function newSession(actor: Actor, title: string, agentType = "primary") {
  const res = await api("POST", "/sessions", { token: actor.token, body: { title, agentType } });
  if (res.status !== 200) throw new Error(`could not create a session for ${actor.id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** Users and sessions of one fuzz file (`tag` keeps files apart). */
export async function createWorld(tag: string): Promise<World> {
  const suffix = randomBytes(3).toString("hex");
  const actor = async (role: string, opts: Parameters<typeof token>[1] = {}): Promise<Actor> => {
    const id = `fz${tag}-${role}-${suffix}`;
    return { id, token: await token(id, { expiresIn: "2h", ...opts }) };
  };
  const [a, b, admin, creator, ender, guest] = await Promise.all([
    actor("alice"),
    actor("bob"),
    actor("admin", { admin: true }),
    actor("carol"),
    actor("erin"),
    actor("gus", { guest: true }),
  ]);
  const sessions = {
    a: [await newSession(a, "fuzz a1"), await newSession(a, "fuzz a2"), await newSession(a, "fuzz a3")],
    b: [await newSession(b, "fuzz b1"), await newSession(b, "fuzz b2")],
    // Enough that concurrent first ends (a race) happen in most runs; spread over agent types to stay
    // under the open-sessions limit per type.
    doomed: await Promise.all(["primary", "log_analysis", "research", "router"].flatMap((type, i) => [1, 2].map((n) => newSession(ender, `fuzz doomed ${i * 2 + n}`, type)))),
  };
  return { a, b, admin, creator, ender, guest, sessions, badTokens: await badTokens(a) };
}

export const bearer = (actor: Actor, label: string) => new Auth(`Bearer ${actor.token}`, actor.token, label);

/**
 * How a request authenticates: mostly as `main`, sometimes as other real users, sometimes with a
 * botched header or a token that must be refused.
 */
export function authArb(world: World, main: Actor, mainLabel: string, others: [Actor, string][]): fc.Arbitrary<Auth> {
  const t = main.token;
  return fc.oneof(
    { weight: 16, arbitrary: fc.constant(bearer(main, mainLabel)) },
    { weight: 3, arbitrary: fc.constantFrom(...others.map(([actor, label]) => bearer(actor, label))) },
    { weight: 2, arbitrary: fc.constantFrom(...world.badTokens) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        new Auth(undefined, undefined, "no-auth"),
        new Auth(`bearer ${t}`, t, `bearer-lowercase(${mainLabel})`),
        new Auth(`Bearer   ${t}  `, t, `bearer-spaces(${mainLabel})`),
        new Auth(`Bearer ${t} junk`, `${t} junk`, "bearer-junk"),
        new Auth(t, t, "no-scheme"),
        new Auth("Bearer", "", "bearer-empty"),
        new Auth("Bearer ", "", "bearer-space"),
        new Auth("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "basic"),
        new Auth(`Bearer ${t},Bearer ${world.b.token}`, `${t},${world.b.token}`, "two-tokens"),
        new Auth(`Token ${t}`, t, "token-scheme"),
      ),
    },
    { weight: 1, arbitrary: headerSafeText(80).map((s) => new Auth(`Bearer ${s}`, s, `bearer(${JSON.stringify(s)})`)) },
  );
}
