// Splits a byte stream into lines, holding at most `limit` bytes of an
// unfinished one: a peer that never sends a newline cannot make us buffer
// without end. Works on bytes, so a UTF-8 character split across two chunks
// is put back together before it is decoded.

const NEWLINE = 0x0a;

export class LineReader {
  readonly limit: number;
  #pending: Buffer = Buffer.alloc(0);

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Complete lines in `chunk` (without their newline); `overflow` once a line is longer than the limit. */
  push(chunk: Buffer): { lines: string[]; overflow: boolean } {
    const lines: string[] = [];
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE)) {
      if (end > this.limit) return this.#overflow(lines);
      lines.push(data.subarray(0, end).toString('utf8').replace(/\r$/, ''));
      data = data.subarray(end + 1);
    }
    if (data.length > this.limit) return this.#overflow(lines);
    // Copy the tail: a subarray would keep the whole chunk alive.
    this.#pending = Buffer.from(data);
    return { lines, overflow: false };
  }

  /** Bytes of an unfinished line. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  #overflow(lines: string[]): { lines: string[]; overflow: boolean } {
    this.#pending = Buffer.alloc(0);
    return { lines, overflow: true };
  }
}
