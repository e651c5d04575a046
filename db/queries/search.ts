// Full-text search over messages: ranked hits with highlighted, HTML-safe snippets, keyset-paged.
import { sql, type SQL } from "drizzle-orm";
import type { MessageDirection } from "../schema";
import type { Database } from "./sessions";

/** Where the next page starts: strictly after this (rank, id) in (rank desc, id desc) order. */
export interface SearchCursor {
  rank: number;
  id: string;
}

export interface SearchQuery {
  /** The user's query, parsed by websearch_to_tsquery ("quoted phrase", or, -word). */
  q: string;
  /** Only sessions this user owns; null searches everyone's (admins). */
  ownerId: string | null;
  sessionId?: string | undefined;
  limit: number;
  cursor: SearchCursor | null;
}

export interface SearchHit {
  sessionId: string;
  sessionTitle: string | null;
  messageId: string;
  seq: number;
  direction: MessageDirection;
  createdAt: string;
  rank: number;
  snippet: string;
}

export function encodeSearchCursor(c: SearchCursor): string {
  return btoa(`${c.rank}|${c.id}`).replace(/=+$/, "");
}

/**
 * The cursor, or null when it is not one this API issued. Ranks are normalised into [0, 1)
 * (see RANK), so anything else, or a number Postgres could not read back exactly, is refused here
 * rather than failing in SQL.
 */
export function decodeSearchCursor(s: string): SearchCursor | null {
  let decoded: string;
  try {
    decoded = atob(s);
  } catch {
    return null;
  }
  // String() of a number in [0, 1) has at most 17 significant digits after up to 6 zeros ("0.000001…").
  const match = /^(\d(?:\.\d{1,30})?(?:e-\d{1,3})?)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(decoded);
  if (!match) return null;
  const rank = Number(match[1]);
  // Only the spelling encodeSearchCursor writes (String of the number), so the value is exactly the rank it came from.
  if (String(rank) !== match[1] || rank < 0 || rank >= 1 || (rank !== 0 && rank < 1e-300)) return null;
  return { rank, id: match[2]!.toLowerCase() };
}

/*
 * Snippets. ts_headline marks matches with StartSel/StopSel, but its output is the stored text, and
 * any character but NUL can be stored (validation refuses only NUL and lone surrogates, and a
 * Postgres text value can hold neither, so neither can serve as a marker). So the text goes
 * through a tiny escape scheme in SQL and is decoded in JavaScript:
 *   - chr(1) is the escape character: the content's own chr(1) is doubled first;
 *   - chr(1) chr(2) / chr(1) chr(3) are the start and stop markers given to ts_headline;
 *   - `<` becomes chr(1) chr(4): otherwise the parser takes `<b>`, `<script>…` for HTML tags, and
 *     ts_headline drops tags from its output, so the snippet would not show what was written.
 * The parser treats chr(1) as blank space, so the words, and so the highlighting, are unchanged,
 * and ts_headline emits whole tokens, so an escape pair is never cut in two. decodeSnippet then
 * HTML-escapes every character and turns only the markers into <mark> and </mark>.
 */
const HEADLINE_OPTIONS = 'StartSel="\u0001\u0002", StopSel="\u0001\u0003", MaxFragments=2, MaxWords=18, MinWords=6, FragmentDelimiter=" … "';

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** ts_headline's escaped output (see above) → HTML: every character escaped, matches in <mark>. */
export function decodeSnippet(headline: string): string {
  let out = "";
  for (let i = 0; i < headline.length; i++) {
    const ch = headline[i]!;
    if (ch === "\u0001") {
      const next = headline[i + 1];
      const decoded = next === "\u0001" ? "\u0001" : next === "\u0002" ? "<mark>" : next === "\u0003" ? "</mark>" : next === "\u0004" ? "&lt;" : null;
      if (decoded !== null) {
        out += decoded;
        i++;
        continue;
      }
    }
    out += HTML_ESCAPES[ch] ?? ch;
  }
  return out;
}

// Must be exactly the expression of chat_messages_content_fts_idx, or Postgres cannot use the index.
const VECTOR = sql.raw("to_tsvector('simple', m.content)");

/**
 * Cover density (closer matches rank higher), divided by 1 + log(length) so a short message that is
 * about the words beats a long one that mentions them, then mapped into [0, 1) (rank / (rank + 1)).
 * Compared as float8 so the cursor (a JS number) round-trips exactly.
 */
const RANK = (query: SQL) => sql`ts_rank_cd(${VECTOR}, ${query}, 1 | 32)::float8`;

/**
 * One page of hits, best first (rank desc, then id desc as a tie-break, so the order is total and
 * the keyset cursor neither repeats nor skips). A query with no searchable words matches nothing,
 * and so does one with nothing to look up but exclusions (`-card`, `card or -x`: querytree is 'T'):
 * it would match nearly every message, and no index can find "all messages without a word".
 */
export async function searchMessages(db: Database, s: SearchQuery): Promise<{ hits: SearchHit[]; nextCursor: SearchCursor | null }> {
  const query = sql`websearch_to_tsquery('simple', ${s.q})`;
  const filters = [
    s.ownerId === null ? sql`` : sql`and s.user_id = ${s.ownerId}`,
    s.sessionId === undefined ? sql`` : sql`and m.session_id = ${s.sessionId}::uuid`,
  ];
  const after = s.cursor ? sql`where (rank, id) < (${s.cursor.rank}::float8, ${s.cursor.id}::uuid)` : sql``;
  const result = (await db.execute(sql`
    with matches as (
      select m.id, m.session_id, m.seq, m.direction, m.created_at, m.content, s.title, ${RANK(query)} as rank
      from chat_messages m join chat_sessions s on s.id = m.session_id
      where querytree(${query}) not in ('', 'T') and ${VECTOR} @@ ${query} ${filters[0]} ${filters[1]}
    ), page as (
      select * from matches ${after} order by rank desc, id desc limit ${s.limit + 1}
    )
    -- Only the page's rows get a headline (ts_headline re-parses the whole text).
    select id, session_id, seq, direction, created_at, title, rank,
      ts_headline('simple', replace(replace(content, chr(1), chr(1) || chr(1)), '<', chr(1) || chr(4)), ${query}, ${HEADLINE_OPTIONS}) as headline
    from page order by rank desc, id desc`)) as unknown as {
    rows: { id: string; session_id: string; seq: number; direction: MessageDirection; created_at: string | Date; title: string | null; rank: number | string; headline: string }[];
  };
  const rows = result.rows.slice(0, s.limit);
  const hits = rows.map((r) => ({
    sessionId: r.session_id,
    sessionTitle: r.title,
    messageId: r.id,
    seq: Number(r.seq),
    direction: r.direction,
    createdAt: new Date(r.created_at).toISOString(),
    rank: Number(r.rank),
    snippet: decodeSnippet(r.headline),
  }));
  const last = hits.at(-1);
  return { hits, nextCursor: result.rows.length > s.limit && last ? { rank: last.rank, id: last.messageId } : null };
}
