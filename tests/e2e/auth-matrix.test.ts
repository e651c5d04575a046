// The auth matrix: every door (each procedure over tRPC and REST, the socket by ?token= and by subprotocol,
// the useChat routes, the export, the agent callback) against every kind of refused token, and what the
// owner, a guest, another user and an admin get through each. Driven by the tables in tests/doors.ts.
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { appRouter } from "../../worker/routers";
import { OTHER_DOORS, PROCEDURE_DOORS, callProcedure, fixture, pool, rest, type Answer, type Fixture, type ProcedureName } from "../doors";
import { baseUrl, token } from "../helpers";

// The router is imported for its procedure list only; some of its modules define Durable Object
// classes, whose base class exists in workerd alone.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

type Door = { name: string; call: (fx: Fixture, t: string | null) => Promise<Answer>; expect: Record<"owner" | "other" | "admin", number>; mutates: boolean };

/** Every door: each procedure twice (tRPC, REST), then the routes that are not procedures. */
const doors: Door[] = [
  ...(Object.keys(PROCEDURE_DOORS) as ProcedureName[]).flatMap((name) =>
    (["trpc", "rest"] as const).map((via) => ({
      name: `${name} (${via === "trpc" ? "tRPC" : `REST ${PROCEDURE_DOORS[name].rest.method} ${PROCEDURE_DOORS[name].rest.path}`})`,
      call: (fx: Fixture, t: string | null) => callProcedure(name, via, fx, t),
      expect: PROCEDURE_DOORS[name].expect,
      mutates: PROCEDURE_DOORS[name].kind === "mutation",
    })),
  ),
  ...Object.entries(OTHER_DOORS).map(([name, door]) => ({ name, call: door.call, expect: door.expect, mutates: "mutates" in door })),
];

const secret = () => new TextEncoder().encode(inject("jwtSecret"));
const now = () => Math.floor(Date.now() / 1000);

/**
 * Tokens that must open no door, each claiming to be the fixture's owner (where it has a subject at
 * all), with the reason the 401 must give.
 */
const REFUSED: Record<string, { make: (sub: string) => Promise<string | null>; reason: RegExp }> = {
  "no token": { make: async () => null, reason: /missing (bearer )?token/ },
  malformed: { make: async () => "not-a-jwt", reason: /malformed token/ },
  "alg: none": { make: async (sub) => new UnsecuredJWT({ role: "admin" }).setSubject(sub).setExpirationTime("1h").encode(), reason: /algorithm none/ },
  "wrong key": { make: (sub) => token(sub, { secret: "not-the-server-secret-0123456789abcdef" }), reason: /signature/ },
  expired: {
    make: (sub) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt(now() - 7200).setExpirationTime(now() - 60).sign(secret()),
    reason: /expired/,
  },
  "not yet valid (nbf in the future)": {
    make: (sub) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setNotBefore(now() + 3600).setExpirationTime(now() + 7200).sign(secret()),
    reason: /not valid yet/,
  },
  "no sub": { make: async () => new SignJWT({ role: "admin" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(secret()), reason: /sub/ },
  "RS256 with no JWKS configured": {
    make: async (sub) => {
      const { privateKey } = await generateKeyPair("RS256");
      return new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject(sub).setExpirationTime("1h").sign(privateKey);
    },
    reason: /algorithm RS256 is not accepted/,
  },
};

describe("the door tables", () => {
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string; meta?: { openapi?: { method: string; path: string } } } }>;

  it("name every procedure of the router, with its kind and REST twin", () => {
    expect(Object.keys(PROCEDURE_DOORS).sort()).toEqual(Object.keys(procedures).sort());
    for (const [name, door] of Object.entries(PROCEDURE_DOORS)) {
      const def = procedures[name]!._def;
      expect({ name, kind: def.type, rest: { method: def.meta?.openapi?.method, path: def.meta?.openapi?.path } }).toEqual({ name, kind: door.kind, rest: door.rest });
    }
  });

  it("cover every operation of /openapi.json", async () => {
    const doc = (await (await fetch(`${baseUrl()}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const covered = new Set([...Object.values(PROCEDURE_DOORS).map((d) => `${d.rest.method} ${d.rest.path}`), ...Object.values(OTHER_DOORS).map((d) => d.openapi)]);
    expect(operations.filter((op) => !covered.has(op))).toEqual([]);
    expect([...covered].filter((op) => !operations.includes(op))).toEqual([]);
  });
});

describe("a refused token opens no door", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await fixture();
  });

  for (const [kind, { make, reason }] of Object.entries(REFUSED)) {
    it(`${kind}: 401 with the reason, on every door`, async () => {
      const t = await make(fx.userId);
      const answers = await pool(doors, 6, async (door) => ({ door: door.name, answer: await door.call(fx, t) }));
      for (const { door, answer } of answers) {
        expect(answer.status, `${door}: ${JSON.stringify(answer.body)}`).toBe(401);
        expect(answer.code, door).toBe("UNAUTHORIZED");
        // The callback is refused for its missing signature: a bearer token is not looked at.
        expect(answer.message, door).toMatch(door === "agent callback" ? /signature/ : reason);
      }
    });
  }

  it("left the session as it was", async () => {
    const got = await rest("GET", "/sessions/{sessionId}", { sessionId: fx.sessionId }, fx.token);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ session: { title: "a door fixture", status: "active", handler: "agent", messageCount: 1 } });
    expect((got.body as { messages: unknown[] }).messages).toHaveLength(1);
    // The turn still runs: its owner can still stop it.
    expect((await rest("POST", "/sessions/{sessionId}/turns/cancel", { sessionId: fx.sessionId }, fx.token)).status).toBe(200);
  });
});

describe("what each caller gets through each door", () => {
  const roles = ["owner", "guest", "other", "admin"] as const;
  // Doors that change the session get a fixture each (another user changes nothing); the others share one per role.
  const shared: Partial<Record<(typeof roles)[number], Fixture>> = {};
  beforeAll(async () => {
    await Promise.all(roles.map(async (role) => (shared[role] = await fixture({ guest: role === "guest" }))));
  });

  async function callerFor(role: (typeof roles)[number], fx: Fixture) {
    if (role === "owner" || role === "guest") return fx.token;
    return token(`${role}-${randomUUID().slice(0, 8)}`, { admin: role === "admin" });
  }

  for (const role of roles) {
    it(`${role === "owner" ? "the owner" : role === "guest" ? "a guest (own session)" : role === "other" ? "another user" : "an admin"}: the status the README promises, on every door`, async () => {
      const answers = await pool(doors, 8, async (door) => {
        const fx = door.mutates && role !== "other" ? await fixture({ guest: role === "guest" }) : shared[role]!;
        return { door, answer: await door.call(fx, await callerFor(role, fx)) };
      });
      const got = answers.map(({ door, answer }) => `${door.name}: ${answer.status}${answer.status >= 400 ? ` ${answer.code}` : ""}`);
      const codes: Record<number, string> = { 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND" };
      const want = answers.map(({ door }) => {
        const status = door.expect[role === "guest" ? "owner" : role];
        return `${door.name}: ${status}${status >= 400 ? ` ${codes[status]}` : ""}`;
      });
      expect(got).toEqual(want);
      // A refusal says why.
      for (const { door, answer } of answers.filter((a) => a.answer.status >= 400)) expect(answer.message, door.name).toBeTruthy();
    });
  }

  it("a guest's session lives GUEST_SESSION_TTL_HOURS (24), a user's USER_SESSION_TTL_HOURS (168)", async () => {
    const lifetime = async (guest: boolean) => {
      const s = (await rest("POST", "/sessions", {}, await token(`ttl-${randomUUID().slice(0, 8)}`, { guest }))).body as { createdAt: string; expiresAt: string };
      return (Date.parse(s.expiresAt) - Date.parse(s.createdAt)) / 3_600_000;
    };
    expect(await lifetime(true)).toBeCloseTo(24, 1);
    expect(await lifetime(false)).toBeCloseTo(168, 1);
  });
});
