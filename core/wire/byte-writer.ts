/**
 * A growable big-endian byte writer that knows RFC 5354's TLV rules: a TLV's length covers its header and
 * value, inner padding between nested parameters counts, the final padding does not.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  /** End of the last byte that is not padding: what a closing TLV's length reaches up to. */
  private contentEnd = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  get position(): number {
    return this.pos;
  }

  /** Starts over, keeping the allocated buffer (the encoder reuses one writer for every message). */
  reset(): this {
    this.pos = 0;
    this.contentEnd = 0;
    return this;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, value);
    this.pos += 1;
    this.contentEnd = this.pos;
  }

  u16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
    this.contentEnd = this.pos;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, value >>> 0);
    this.pos += 4;
    this.contentEnd = this.pos;
  }

  i32(value: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
    this.contentEnd = this.pos;
  }

  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    this.contentEnd = this.pos;
  }

  /** Zero bytes up to the next multiple of 4; they do not move contentEnd. */
  pad(): void {
    const padding = (4 - (this.pos & 3)) & 3;
    this.ensure(padding);
    for (let i = 0; i < padding; i++) this.buf[this.pos + i] = 0;
    this.pos += padding;
  }

  /** Starts a TLV (or an error cause, which has the same header shape); returns its start for `end`. */
  begin(type: number): number {
    const start = this.pos;
    this.u16(type);
    this.u16(0);
    return start;
  }

  /** Writes the length of the TLV started at `start` and pads it. */
  end(start: number): void {
    const length = this.contentEnd - start;
    if (length > 0xffff) throw new RangeError(`parameter at ${start} is ${length} bytes, above 65535`);
    this.view.setUint16(start + 2, length);
    this.pad();
    this.contentEnd = start + length;
  }

  /** The bytes written so far (for a lone parameter), padded. */
  finished(): Uint8Array {
    this.pad();
    return this.buf.slice(0, this.pos);
  }

  /** Finishes a message started at 0: writes the length (excluding final padding) and returns the bytes. */
  finishMessage(): Uint8Array {
    const length = this.contentEnd;
    if (length > 0xffff) throw new RangeError(`message is ${length} bytes, above 65535`);
    this.view.setUint16(2, length);
    this.pad();
    return this.buf.slice(0, this.pos);
  }
}
