/**
 * RouterOS API wire format: words (length prefix + bytes) grouped into sentences (ended by an empty word).
 *
 * Length prefix forms, big-endian (MikroTik "API" manual, "Protocol" section; same table in
 * /work/shared/notes/routeros.md):
 *   len < 0x80        1 byte   len
 *   len < 0x4000      2 bytes  len | 0x8000
 *   len < 0x200000    3 bytes  len | 0xC00000
 *   len < 0x10000000  4 bytes  len | 0xE0000000
 *   otherwise         5 bytes  0xF0, then len as 4 bytes
 * A first byte >= 0xF8 is a reserved control byte. A decoder must accept any of the forms for any length (the
 * form is chosen by the first byte), so a non-minimal prefix such as F0 00 00 00 05 is a valid 5-byte "5".
 *
 * Strings travel as single bytes: we map byte <-> char with latin1 so that whatever bytes a client sends
 * (node-routeros sends win1252) come back unchanged.
 */

/** Windows-1252 bytes 0x80–0x9F (0 where unassigned); 0xA0–0xFF are Latin-1. */
const WIN1252_80_9F = "€\0‚ƒ„…†‡ˆ‰Š‹Œ\0Ž\0\0‘’“”•–—˜™š›œ\0žŸ";

/**
 * Text as the router holds it, in its codepage (Windows-1252, what Winbox and node-routeros use), mapped
 * byte <-> char with latin1 like every word here. A character the codepage lacks is held as its UTF-8
 * bytes, as typed on a UTF-8 terminal: no client that sends win1252 can match it.
 */
export function codepage(text: string): string {
  return [...text]
    .map((c) => {
      const high = WIN1252_80_9F.indexOf(c);
      if (c !== "\0" && high >= 0) return String.fromCharCode(0x80 + high);
      return c <= "\x7f" || (c >= "\xa0" && c <= "\xff") ? c : Buffer.from(c, "utf8").toString("latin1");
    })
    .join("");
}

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** Largest length the 5-byte form can carry. */
export const MAX_ENCODABLE_LENGTH = 0xffffffff;

/** Canonical (shortest) length prefix, exactly as RouterOS and node-routeros write it. */
export function encodeLength(len: number): Buffer {
  if (!Number.isInteger(len) || len < 0 || len > MAX_ENCODABLE_LENGTH) {
    throw new ProtocolError(`cannot encode word length ${len}`);
  }
  if (len < 0x80) return Buffer.from([len]);
  if (len < 0x4000) return Buffer.from([(len >>> 8) | 0x80, len & 0xff]);
  if (len < 0x200000) return Buffer.from([(len >>> 16) | 0xc0, (len >>> 8) & 0xff, len & 0xff]);
  if (len < 0x10000000) {
    return Buffer.from([(len >>> 24) | 0xe0, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff]);
  }
  return Buffer.from([0xf0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff]);
}

/** Length prefix of the requested form (1..5 bytes), minimal or not; for tests of non-canonical input. */
export function encodeLengthAs(len: number, bytes: 1 | 2 | 3 | 4 | 5): Buffer {
  const limits = [0, 0x80, 0x4000, 0x200000, 0x10000000, MAX_ENCODABLE_LENGTH + 1];
  if (len < 0 || len >= limits[bytes])
    throw new ProtocolError(`length ${len} does not fit a ${bytes}-byte prefix`);
  switch (bytes) {
    case 1:
      return Buffer.from([len]);
    case 2:
      return Buffer.from([(len >>> 8) | 0x80, len & 0xff]);
    case 3:
      return Buffer.from([(len >>> 16) | 0xc0, (len >>> 8) & 0xff, len & 0xff]);
    case 4:
      return Buffer.from([(len >>> 24) | 0xe0, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff]);
    case 5:
      return Buffer.from([0xf0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff]);
  }
}

/**
 * How many bytes the prefix starting with `first` occupies, or a ProtocolError for a control byte.
 * 0xF0..0xF7 all select the 5-byte form (MikroTik's decoder tests `(b & 0xF8) == 0xF0`).
 */
export function prefixSize(first: number): number {
  if (first < 0x80) return 1;
  if (first < 0xc0) return 2;
  if (first < 0xe0) return 3;
  if (first < 0xf0) return 4;
  if (first < 0xf8) return 5;
  throw new ProtocolError(`reserved control byte 0x${first.toString(16)} in word length`);
}

/** Decode a complete prefix (`buf` holds at least prefixSize(buf[0]) bytes). */
export function decodeLength(buf: Buffer, offset = 0): { length: number; size: number } {
  const first = buf[offset];
  const size = prefixSize(first);
  switch (size) {
    case 1:
      return { length: first, size };
    case 2:
      return { length: ((first & 0x3f) << 8) | buf[offset + 1], size };
    case 3:
      return { length: ((first & 0x1f) << 16) | (buf[offset + 1] << 8) | buf[offset + 2], size };
    case 4:
      return {
        length:
          (first & 0x0f) * 0x1000000 + ((buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]),
        size,
      };
    default:
      return { length: buf.readUInt32BE(offset + 1), size };
  }
}

export function encodeWord(word: string | Buffer): Buffer {
  const bytes = typeof word === "string" ? Buffer.from(word, "latin1") : word;
  return Buffer.concat([encodeLength(bytes.length), bytes]);
}

/** A whole sentence: every word, then the empty word. */
export function encodeSentence(words: readonly string[]): Buffer {
  return Buffer.concat([...words.map((w) => encodeWord(w)), Buffer.from([0])]);
}

export interface DecoderOptions {
  /** Words longer than this are refused (ProtocolError) instead of buffered. Default 64 MiB. */
  maxWordLength?: number;
}

export const DEFAULT_MAX_WORD_LENGTH = 64 * 1024 * 1024;

/**
 * Incremental sentence decoder. Feed it chunks exactly as they come off a socket (split at any byte, or
 * holding many sentences); it returns each sentence once it is complete.
 */
export class SentenceDecoder {
  private chunks: Buffer[] = [];
  private total = 0;
  private words: string[] = [];
  private readonly maxWordLength: number;

  constructor(opts: DecoderOptions = {}) {
    this.maxWordLength = opts.maxWordLength ?? DEFAULT_MAX_WORD_LENGTH;
  }

  /** Bytes received but not yet part of a complete word. */
  get buffered(): number {
    return this.total;
  }

  push(chunk: Buffer): string[][] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.total += chunk.length;
    }
    const sentences: string[][] = [];
    for (;;) {
      if (this.total === 0) break;
      const size = prefixSize(this.firstByte());
      if (this.total < size) break;
      const { length } = decodeLength(this.take(size, false));
      if (length > this.maxWordLength) {
        throw new ProtocolError(`word of ${length} bytes exceeds the ${this.maxWordLength}-byte limit`);
      }
      if (this.total < size + length) break;
      this.take(size, true);
      if (length === 0) {
        sentences.push(this.words);
        this.words = [];
        continue;
      }
      this.words.push(this.take(length, true).toString("latin1"));
    }
    return sentences;
  }

  private firstByte(): number {
    return this.chunks[0][0];
  }

  /** The first n buffered bytes; consumed when `consume`. Concatenates only as much as needed. */
  private take(n: number, consume: boolean): Buffer {
    if (this.chunks[0].length < n) {
      let have = 0;
      let count = 0;
      while (have < n) have += this.chunks[count++].length;
      this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count)));
    }
    const head = this.chunks[0];
    const out = head.subarray(0, n);
    if (consume) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.total -= n;
    }
    return out;
  }
}

/** Parsed request sentence: command word, `=name=value` attributes, `?` queries and the `.tag`. */
export interface ParsedSentence {
  command: string;
  attrs: Record<string, string>;
  /** Query words without their leading `?`, in order. */
  queries: string[];
  tag?: string;
  /** Words that are neither attributes, queries nor the tag (RouterOS rejects these). */
  stray: string[];
}

export function parseSentence(words: readonly string[]): ParsedSentence {
  const [command = "", ...rest] = words;
  const out: ParsedSentence = { command, attrs: {}, queries: [], stray: [] };
  for (const word of rest) {
    if (word.startsWith("=")) {
      const eq = word.indexOf("=", 1);
      if (eq === -1) out.attrs[word.slice(1)] = "";
      else out.attrs[word.slice(1, eq)] = word.slice(eq + 1);
    } else if (word.startsWith("?")) {
      out.queries.push(word.slice(1));
    } else if (word.startsWith(".tag=")) {
      // An empty `.tag=` is no tag: its replies carry none (API manual, "Tags").
      const tag = word.slice(5);
      if (tag === "") delete out.tag;
      else out.tag = tag;
    } else {
      out.stray.push(word);
    }
  }
  return out;
}

/** One reply sentence: `!re`, `!done`, `!trap`, `!fatal`, `!empty`. */
export interface ReplySentence {
  type: string;
  attrs: Record<string, string>;
  tag?: string;
  /** Every word after the reply word, in order (for `!fatal`, its reason is a bare word here). */
  words: string[];
}

export function parseReply(words: readonly string[]): ReplySentence {
  const [type = "", ...rest] = words;
  const reply: ReplySentence = { type, attrs: {}, words: rest };
  for (const word of rest) {
    if (word.startsWith(".tag=")) reply.tag = word.slice(5);
    else if (word.startsWith("=")) {
      const eq = word.indexOf("=", 1);
      if (eq === -1) reply.attrs[word.slice(1)] = "";
      else reply.attrs[word.slice(1, eq)] = word.slice(eq + 1);
    }
  }
  return reply;
}
