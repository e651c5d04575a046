// messages.search: ranking, escaped and highlighted snippets, who sees what, cursor paging, bad input.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { api, client, newUserId, reachedPostgres, token } from "../helpers";

type Hit = { sessionId: string; sessionTitle: string | null; messageId: string; seq: number; direction: string; createdAt: string; rank: number; snippet: string };

/** A word no other test (or run) writes, so searches by it see this test's messages only. */
const uniqueWord = () => `zq${randomUUID().replace(/-/g, "").slice(0, 12)}`;

/** Sends `contents` in order into a new session of the user and waits until Postgres has them (search reads Postgres). */
async function sessionWith(userId: string, contents: string[], title?: string) {
  const c = await client(userId);
  const s = await c.sessions.create.mutate(title ? { title } : {});
  for (const content of contents) await c.messages.send.mutate({ sessionId: s.id, content });
  await reachedPostgres(s.id, contents.length);
  return { c, s };
}

const unescapeHtml = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

describe("messages.search", () => {
  it("ranks messages with closer and more matching words first", async () => {
    const userId = newUserId();
    const filler = "then we talked about the weather and the bus and lunch for a while";
    const { c, s } = await sessionWith(userId, [
      `card ${filler} and then declined`, // both words, far apart
      `my card declined ${filler}`, // both words, adjacent: same length
      "nothing relevant here",
      "card declined blocked", // all three words
      "only the card is mentioned",
    ]);
    const near = await c.messages.search.query({ q: "card declined", sessionId: s.id });
    expect(near.results.map((r) => r.seq)).toEqual([4, 2, 1]);
    expect(near.results.every((r, i, all) => i === 0 || all[i - 1]!.rank >= r.rank)).toBe(true);

    const more = await c.messages.search.query({ q: "card or declined or blocked", sessionId: s.id });
    expect(more.results[0]!.seq).toBe(4);
    expect(more.results.map((r) => r.seq).sort()).toEqual([1, 2, 4, 5]);
    // websearch syntax: a quoted phrase, and -word.
    expect((await c.messages.search.query({ q: '"card declined"', sessionId: s.id })).results.map((r) => r.seq).sort()).toEqual([2, 4]);
    expect((await c.messages.search.query({ q: "card -declined", sessionId: s.id })).results.map((r) => r.seq)).toEqual([5]);
    // Exclusions alone would match nearly everything: they find nothing.
    expect((await c.messages.search.query({ q: "-declined", sessionId: s.id })).results).toEqual([]);

    const hit = near.results[0]!;
    expect(hit).toMatchObject({ sessionId: s.id, sessionTitle: null, direction: "incoming" });
    expect(Number.isNaN(Date.parse(hit.createdAt))).toBe(false);
    expect(hit.rank).toBeGreaterThan(0);
    expect(hit.rank).toBeLessThan(1);
  });

  it("marks the matched words and escapes everything else in the snippet", async () => {
    const userId = newUserId();
    const hostile = `card: <script>alert("x")</script> & my <b>card</b> safe? 'yes' \u0001\u0002 stays`;
    const { c, s } = await sessionWith(userId, [hostile, "Cards and carding are other words"], "Card <i>help</i>");
    const { results } = await c.messages.search.query({ q: "card", sessionId: s.id });
    expect(results).toHaveLength(1);
    const { snippet, sessionTitle } = results[0]!;
    expect(sessionTitle).toBe("Card <i>help</i>");
    expect(snippet).toContain("<mark>card</mark>: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; my &lt;b&gt;<mark>card</mark>&lt;/b&gt; safe? &#39;yes&#39;");
    // The only markup is <mark>; without it, and unescaped, the snippet is the content itself.
    const plain = snippet.replace(/<\/?mark>/g, "");
    expect(plain).not.toMatch(/[<>"']/);
    expect(hostile).toContain(unescapeHtml(plain));
    expect(unescapeHtml(plain)).toContain("\u0001\u0002 stays");

    // Over REST too, with the same shape.
    const rest = await api("GET", `/search?q=${encodeURIComponent("CARD")}&sessionId=${s.id}`, { token: await token(userId) });
    expect(rest.status).toBe(200);
    expect(rest.body).toEqual({ results, nextCursor: null });
  });

  it("shows users their own messages only, admins everyone's", async () => {
    const word = uniqueWord();
    const alice = newUserId("alice");
    const bob = newUserId("bob");
    const a = await sessionWith(alice, [`alice says ${word}`]);
    const b = await sessionWith(bob, [`bob says ${word}`, `bob again ${word}`]);

    const asAlice = await a.c.messages.search.query({ q: word });
    expect(asAlice.results.map((r) => r.sessionId)).toEqual([a.s.id]);
    const asBob = await b.c.messages.search.query({ q: word });
    expect(asBob.results.map((r) => r.sessionId)).toEqual([b.s.id, b.s.id]);
    const admin = await client(newUserId("staff"), { admin: true });
    const all = await admin.messages.search.query({ q: word });
    expect(all.results.map((r) => r.sessionId).sort()).toEqual([a.s.id, b.s.id, b.s.id].sort());
    expect((await admin.messages.search.query({ q: word, sessionId: b.s.id })).results).toHaveLength(2);

    // Another user's session as a filter: 404, as sessions.get answers it, and as for a session that does not exist.
    const t = await token(alice);
    const others = await api("GET", `/search?q=${word}&sessionId=${b.s.id}`, { token: t });
    const unknown = await api("GET", `/search?q=${word}&sessionId=${randomUUID()}`, { token: t });
    expect(others).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(unknown).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(others.body.message).not.toContain("bob");
    expect((await api("GET", `/search?q=${word}`)).status).toBe(401);
  });

  it("pages with the cursor: every hit once, in the order of a single page", async () => {
    const userId = newUserId();
    const word = uniqueWord();
    // Varied ranks (the word 1–5 times in a message), and many exact ties (identical messages).
    const contents = Array.from({ length: 23 }, (_, i) => `${`${word} `.repeat((i % 5) + 1)}filler text number ${i % 3 === 0 ? "same" : i}`);
    const { c } = await sessionWith(userId, contents);
    const whole = await c.messages.search.query({ q: word, limit: 100 });
    expect(whole.results).toHaveLength(23);
    expect(whole.nextCursor).toBeNull();

    const walked: Hit[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await c.messages.search.query({ q: word, limit: 4, cursor });
      expect(page.results.length).toBeLessThanOrEqual(4);
      walked.push(...page.results);
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(6);
    expect(walked.map((h) => h.messageId)).toEqual(whole.results.map((h) => h.messageId));
    expect(new Set(walked.map((h) => h.messageId)).size).toBe(23);
    expect(walked.every((h, i) => i === 0 || walked[i - 1]!.rank >= h.rank)).toBe(true);
    // The default page is 20.
    expect((await c.messages.search.query({ q: word })).results).toHaveLength(20);
  });

  it("refuses bad input with a 400 that says what is wrong; a query without words finds nothing", async () => {
    const t = await token(newUserId());
    const get = (qs: string) => api("GET", `/search?${qs}`, { token: t });
    const cases: [string, RegExp][] = [
      ["q=", /q must not be blank/],
      ["q=%20%20%20", /q must not be blank/],
      ["", /q/],
      [`q=${"a".repeat(201)}`, /q must be at most 200 characters/],
      ["q=card&limit=1000", /limit/],
      ["q=card&limit=0", /limit/],
      ["q=card&limit=ten", /limit/],
      ["q=card&cursor=bogus", /cursor is not valid/],
      [`q=card&cursor=${btoa(`7|${randomUUID()}`)}`, /cursor is not valid/],
      [`q=card&cursor=${btoa(`1e-999|${randomUUID()}`)}`, /cursor is not valid/],
      ["q=card&sessionId=not-a-uuid", /sessionId must be a UUID/],
      ["q=a%00b", /NUL/],
    ];
    for (const [qs, message] of cases) {
      const res = await get(qs);
      expect({ qs, status: res.status }).toEqual({ qs, status: 400 });
      expect(res.body.message).toMatch(message);
    }
    for (const q of ["!!! ---", "&|!", "-", '""', "-card", "card or -card"]) {
      const res = await get(`q=${encodeURIComponent(q)}`);
      expect({ q, status: res.status, body: res.body }).toEqual({ q, status: 200, body: { results: [], nextCursor: null } });
    }
  });
});
