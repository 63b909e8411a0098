/** Go's string quoting, as %q and strconv.Quote write it. Pure. */

/** Undo Go's %q (strconv.Quote). Falls back to the text as is when it is not a Go-quoted string. */
export function unquoteGo(text: string): string {
  const t = text.trim();
  if (t.length < 2 || !t.startsWith('"') || !t.endsWith('"')) return t;
  const escapes: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };
  return t.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_, esc: string) => {
    const kind = esc[0]!;
    if (kind === 'x' || kind === 'u' || kind === 'U') return String.fromCodePoint(parseInt(esc.slice(1), 16));
    if (/[0-7]/.test(kind) && esc.length === 3) return String.fromCodePoint(parseInt(esc, 8));
    return escapes[esc] ?? esc;
  });
}
