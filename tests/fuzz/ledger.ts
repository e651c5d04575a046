// Every acknowledged message of a fuzz run, and the end-of-run checks: each is readable at its seq, reached Postgres, and every session still works.
import { randomUUID } from "node:crypto";
import { api, sql } from "../helpers";
import { canonical, sameJson } from "./http-client";
import { clip } from "./runner";
import type { Actor, World } from "./world";

/** A message the server acknowledged (HTTP 200 from messages.send, or a socket ack). */
export interface Acked {
  sessionId: string;
  seq: number;
  id: string;
  /** What must be stored, when known (the HTTP answer, or the frame that was acked first time). */
  content?: string;
  metadata?: unknown;
  /** How it was sent, short enough for a report. */
  request: string;
}

interface StoredMessage {
  id: string;
  seq: number;
  content: string;
  metadata: unknown;
}

export class Ledger {
  private readonly acked: Acked[] = [];

  add(entry: Acked) {
    this.acked.push(entry);
  }

  get size() {
    return this.acked.length;
  }

  /**
   * Checks each acknowledged message against history (read as `reader`) and Postgres, allowing the
   * outbox `drainMs` to catch up. Returns the problems found, one line each.
   */
  async verify(reader: Actor, drainMs = 15_000): Promise<string[]> {
    const problems: string[] = [];
    const bySession = new Map<string, Acked[]>();
    for (const e of this.acked) bySession.set(e.sessionId, [...(bySession.get(e.sessionId) ?? []), e]);

    // Two acks for one seq with different ids: two writers for one session.
    for (const [sessionId, entries] of bySession) {
      const bySeq = new Map<number, Acked>();
      for (const e of entries) {
        const first = bySeq.get(e.seq);
        if (!first) bySeq.set(e.seq, e);
        else if (first.id !== e.id) problems.push(`double ack: session ${sessionId} seq ${e.seq} acknowledged as ${first.id} (${first.request}) and as ${e.id} (${e.request})`);
      }
    }

    // Readable at its seq through the history API.
    for (const [sessionId, entries] of bySession) {
      const history = await readHistory(sessionId, reader.token);
      if (typeof history === "string") {
        problems.push(`history failed: session ${sessionId}: ${history}`);
        continue;
      }
      for (const e of entries) problems.push(...compare("history", e, history.get(e.seq)));
    }

    // In Postgres within drainMs.
    const wanted = new Map([...bySession].map(([id, entries]) => [id, Math.max(...entries.map((e) => e.seq))]));
    const deadline = Date.now() + drainMs;
    let rows: (StoredMessage & { session_id: string })[] = [];
    for (;;) {
      ({ rows } = await sql().query(`select session_id, seq, id, content, metadata from chat_messages where session_id = any($1::uuid[])`, [[...wanted.keys()]]));
      const max = new Map<string, number>();
      for (const r of rows) max.set(r.session_id, Math.max(max.get(r.session_id) ?? 0, r.seq));
      if ([...wanted].every(([id, seq]) => (max.get(id) ?? 0) >= seq) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const stored = new Map(rows.map((r) => [`${r.session_id}:${r.seq}`, r]));
    for (const [sessionId, entries] of bySession) {
      const missing = entries.filter((e) => !stored.has(`${sessionId}:${e.seq}`)).sort((x, y) => x.seq - y.seq);
      if (missing.length > 0) {
        const inPostgres = rows.filter((r) => r.session_id === sessionId).length;
        // The outbox writes in batches, so the first missing message need not be the one that broke it.
        const suspects = missing.slice(0, 3).map((e) => `seq ${e.seq}: ${e.request}`).join(" | ");
        problems.push(
          `not in Postgres after ${drainMs / 1000} s: session ${sessionId}, ${missing.length} acknowledged messages missing (seqs ${clip([...new Set(missing.map((e) => e.seq))].join(","), 120)}; ${inPostgres} rows there); the first missing were sent as ${suspects}`,
        );
      }
      for (const e of entries) {
        const row = stored.get(`${sessionId}:${e.seq}`);
        if (row) problems.push(...compare("Postgres", e, row));
      }
    }
    return problems;
  }
}

function compare(where: string, e: Acked, m: StoredMessage | undefined): string[] {
  const at = `session ${e.sessionId} seq ${e.seq}`;
  if (!m) return where === "history" ? [`not in history: ${at} (${e.request})`] : [];
  if (m.id !== e.id) return [`${where} has another message at an acknowledged seq: ${at} holds ${m.id}, acknowledged ${e.id} (${e.request})`];
  const out: string[] = [];
  if (e.content !== undefined && m.content !== e.content) {
    out.push(`${where} content differs: ${at}: acknowledged ${clip(JSON.stringify(e.content), 120)}, stored ${clip(JSON.stringify(m.content), 120)} (${e.request})`);
  }
  if (e.metadata !== undefined && !sameJson(m.metadata, e.metadata)) {
    out.push(`${where} metadata differs: ${at}: acknowledged ${clip(canonical(e.metadata), 160)}, stored ${clip(canonical(m.metadata), 160)} (${e.request})`);
  }
  return out;
}

/** The whole history of a session by seq (paging forward), or why it could not be read. */
async function readHistory(sessionId: string, token: string): Promise<Map<number, StoredMessage> | string> {
  const out = new Map<number, StoredMessage>();
  let after = 0;
  for (;;) {
    const res = await api("GET", `/sessions/${sessionId}/history?after=${after}&limit=200`, { token });
    if (res.status !== 200) return `HTTP ${res.status} ${clip(JSON.stringify(res.body), 200)}`;
    for (const m of res.body.messages as StoredMessage[]) out.set(m.seq, m);
    if (res.body.nextCursor === null) return out;
    after = res.body.nextCursor;
  }
}

/**
 * No crashed session: each of the world's sessions answers `get` and history, and takes a valid
 * message (409 when it ended). Accepted messages join the ledger.
 */
export async function checkSessionsAlive(world: World, ledger: Ledger): Promise<string[]> {
  const problems: string[] = [];
  const owners: [string[], Actor][] = [
    [world.sessions.a, world.a],
    [world.sessions.b, world.b],
    [world.sessions.doomed, world.ender],
  ];
  for (const [ids, owner] of owners) {
    for (const id of ids) {
      const got = await api("GET", `/sessions/${id}`, { token: owner.token });
      if (got.status !== 200) {
        problems.push(`liveness get failed: session ${id}: ${got.status} ${clip(JSON.stringify(got.body), 200)}`);
        continue;
      }
      const closed = ["ended", "expired"].includes(got.body.session.status);
      const content = `still alive ${randomUUID()}`;
      const sent = await api("POST", `/sessions/${id}/messages`, { token: owner.token, body: { content, clientId: `alive-${randomUUID()}` } });
      if (sent.status !== (closed ? 409 : 200)) {
        problems.push(`liveness send refused: session ${id} (${got.body.session.status}): ${sent.status} ${clip(JSON.stringify(sent.body), 200)}`);
      } else if (sent.status === 200) {
        ledger.add({ sessionId: id, seq: sent.body.seq, id: sent.body.id, content, metadata: {}, request: "the final liveness send" });
      }
      const history = await api("GET", `/sessions/${id}/history`, { token: owner.token });
      if (history.status !== 200) problems.push(`liveness history failed: session ${id}: ${history.status} ${clip(JSON.stringify(history.body), 200)}`);
    }
  }
  return problems;
}

/** Every problem, grouped by kind, with a few examples of each. */
export function report(what: string, problems: string[]): string {
  const kinds = new Map<string, string[]>();
  for (const p of problems) {
    const kind = p.split(":")[0]!;
    kinds.set(kind, [...(kinds.get(kind) ?? []), p]);
  }
  const sections = [...kinds].map(([kind, list]) => {
    const shown = list.slice(0, 4).map((p) => `    - ${clip(p, 1_200)}`).join("\n");
    return `  ${list.length}× ${kind}\n${shown}${list.length > 4 ? `\n    … and ${list.length - 4} more` : ""}`;
  });
  return `${what}: ${problems.length} problems\n${sections.join("\n")}`;
}
