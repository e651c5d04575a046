// Search snippets on the chat page (web/src/snippet.ts): <mark> becomes highlighted text; everything else stays text.
import { describe, expect, it } from "vitest";
import { parseSnippet, unescapeHtml } from "../../web/src/snippet";

describe("search snippets", () => {
  it("splits marked matches from the text around them", () => {
    expect(parseSnippet("my <mark>card</mark> was <mark>blocked</mark>")).toEqual([
      { text: "my ", mark: false },
      { text: "card", mark: true },
      { text: " was ", mark: false },
      { text: "blocked", mark: true },
    ]);
  });

  it("decodes escaped characters, and shows any other markup as the text it is", () => {
    expect(parseSnippet("&lt;script&gt;alert(1)&lt;/script&gt; &amp; <mark>Tom&#39;s</mark>")).toEqual([
      { text: "<script>alert(1)</script> & ", mark: false },
      { text: "Tom's", mark: true },
    ]);
    expect(parseSnippet("<b>bold</b>")).toEqual([{ text: "<b>bold</b>", mark: false }]);
    expect(unescapeHtml("&#x1F600; &quot;q&quot; &bogus; &#0;")).toBe('😀 "q" &bogus; &#0;');
  });
});
