// qrpc.mjs: a browser client for qrpc services over WebTransport.
//
// Plain ES module, no dependencies, no build step. Each call is one bidirectional
// WebTransport stream carrying the qrpc/1 framing of docs/PROTOCOL.md (§4 frames, §5 header
// blocks, §6 call lifecycle, §19 the WebTransport mapping): the same bytes a native client
// sends over QUIC. Messages are Uint8Array; a method's `encode`/`decode` functions turn them
// into application objects (any protobuf library's, or the tiny `ProtoWriter`/`ProtoReader`
// below).
//
//   import { Client, hashFromHex } from "./qrpc.mjs";
//   const client = await Client.connect("https://127.0.0.1:4433/qrpc", {
//     serverCertificateHashes: [{ algorithm: "sha-256", value: hashFromHex(hex) }],
//   });
//   const feature = await client.unary(GetFeature, { latitude: 1, longitude: 2 }, { timeout: 1000 });
//   for await (const f of client.serverStreaming(ListFeatures, rect)) { ... }

/** Status codes (PROTOCOL.md §5.3), gRPC's numbers. */
export const Code = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

const CODE_NAMES = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

/** Stream error codes (PROTOCOL.md §7.1). */
const ErrorCode = Object.freeze({
  NO_ERROR: 0x0,
  CANCELLED: 0x1,
  DEADLINE_EXCEEDED: 0x2,
  PROTOCOL_ERROR: 0x3,
  REFUSED_STREAM: 0x5,
  RESOURCE_EXHAUSTED: 0x6,
  TOO_EARLY: 0x7,
  SHUTDOWN: 0x10,
});

/** The status of a reset response stream (PROTOCOL.md §7.2). */
function statusOfResetCode(code) {
  switch (code) {
    case ErrorCode.CANCELLED:
      return Code.CANCELLED;
    case ErrorCode.DEADLINE_EXCEEDED:
      return Code.DEADLINE_EXCEEDED;
    case ErrorCode.REFUSED_STREAM:
    case ErrorCode.TOO_EARLY:
    case ErrorCode.SHUTDOWN:
      return Code.UNAVAILABLE;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return Code.RESOURCE_EXHAUSTED;
    default:
      return Code.INTERNAL;
  }
}

/** A call that did not end with OK: its status code, message, details and trailers. */
export class RpcError extends Error {
  constructor(code, message, { details = new Uint8Array(0), metadata = [] } = {}) {
    super(`${CODE_NAMES[code] ?? "UNKNOWN"}: ${message}`);
    this.name = "RpcError";
    /** The status code, a value of `Code`. */
    this.code = code;
    /** The status message, as the server sent it. */
    this.rawMessage = message;
    /** The status details (an encoded google.rpc.Status when not empty). */
    this.details = details;
    /** The trailing metadata: an array of [key, value] (value: string, Uint8Array for -bin). */
    this.metadata = metadata;
  }

  /** The code's name, e.g. "DEADLINE_EXCEEDED". */
  get codeName() {
    return CODE_NAMES[this.code] ?? "UNKNOWN";
  }
}

// ---------------------------------------------------------------------------------------
// Minimal protobuf: exactly what the header blocks need (varints, length-delimited fields),
// exported so a page can encode small messages without a protobuf library. Not a general
// protobuf implementation: no packed repeated fields, no fixed32/64 reading helpers beyond
// skipping them, no groups.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Writes protobuf fields. */
export class ProtoWriter {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  #push(bytes) {
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  #varint(value) {
    // BigInt covers uint64 and negative int32/int64 (ten bytes, two's complement).
    let v = BigInt.asUintN(64, BigInt(value));
    const out = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Uint8Array.from(out));
  }

  #tag(field, wireType) {
    this.#varint((field << 3) | wireType);
  }

  /** A varint field (int32, int64, uint32, uint64, bool, enum). Skips 0, as proto3. */
  varint(field, value) {
    if (BigInt(value) === 0n) return this;
    this.#tag(field, 0);
    this.#varint(value);
    return this;
  }

  /** A varint field written even when 0 (proto3 `optional`). */
  varintAlways(field, value) {
    this.#tag(field, 0);
    this.#varint(value);
    return this;
  }

  /** A bytes field (Uint8Array). Skips empty ones unless `always`. */
  bytes(field, value, always = false) {
    if (value.length === 0 && !always) return this;
    this.#tag(field, 2);
    this.#varint(value.length);
    this.#push(value);
    return this;
  }

  /** A string field (UTF-8). */
  string(field, value, always = false) {
    return this.bytes(field, textEncoder.encode(value), always);
  }

  /** An embedded message field, from another writer (written even when empty). */
  message(field, writer) {
    return this.bytes(field, writer.finish(), true);
  }

  /** The encoded bytes. */
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Reads protobuf fields: `for (const f of new ProtoReader(bytes)) ...` with f.field, f.wireType
 *  and f.value (BigInt for varints, Uint8Array for length-delimited fields). Throws on
 *  malformed input. */
export class ProtoReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  #varint() {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.bytes.length) throw new Error("truncated varint");
      const b = this.bytes[this.at++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, v);
    }
    throw new Error("varint too long");
  }

  #take(n) {
    if (n > this.bytes.length - this.at) throw new Error("truncated field");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  *[Symbol.iterator]() {
    while (this.at < this.bytes.length) {
      const tag = this.#varint();
      const field = Number(tag >> 3n);
      const wireType = Number(tag & 7n);
      if (field === 0) throw new Error("field number 0");
      let value;
      switch (wireType) {
        case 0:
          value = this.#varint();
          break;
        case 1:
          value = this.#take(8);
          break;
        case 2:
          value = this.#take(Number(this.#varint()));
          break;
        case 5:
          value = this.#take(4);
          break;
        default:
          throw new Error(`unsupported wire type ${wireType}`);
      }
      yield { field, wireType, value };
    }
  }
}

/** A varint field's value as a JavaScript int32 (protobuf `int32`). */
export const int32 = (v) => Number(BigInt.asIntN(32, v));
/** A length-delimited field's value as a string (protobuf `string`). */
export const utf8 = (v) => textDecoder.decode(v);

// ---------------------------------------------------------------------------------------
// qrpc/1 frames and header blocks (PROTOCOL.md §4, §5).

const FrameType = Object.freeze({ MESSAGE: 0x00, HEADERS: 0x01, TRAILERS: 0x02 });
const FRAME_HEADER = 6;

function frame(type, payload) {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  out[0] = type;
  out[1] = 0;
  new DataView(out.buffer).setUint32(2, payload.length, false);
  out.set(payload, FRAME_HEADER);
  return out;
}

const KEY = /^[a-z0-9_.-]+$/;

/** Normalizes metadata given as an object or as [key, value] pairs, checking §5.4. */
function metadataEntries(metadata) {
  const pairs = Array.isArray(metadata) ? metadata : Object.entries(metadata ?? {});
  return pairs.map(([key, value]) => {
    if (!KEY.test(key) || key.startsWith("grpc-")) {
      throw new RpcError(Code.INTERNAL, `invalid metadata key ${JSON.stringify(key)}`);
    }
    if (key.endsWith("-bin")) {
      if (!(value instanceof Uint8Array)) {
        throw new RpcError(Code.INTERNAL, `metadata ${key}: a -bin value is a Uint8Array`);
      }
      return [key, value];
    }
    const text = String(value);
    if (!/^[\x20-\x7e]*$/.test(text)) {
      throw new RpcError(Code.INTERNAL, `metadata ${key}: not printable ASCII`);
    }
    return [key, textEncoder.encode(text)];
  });
}

function decodeMetadataEntry(bytes) {
  let key = "";
  let value = new Uint8Array(0);
  for (const f of new ProtoReader(bytes)) {
    if (f.field === 1 && f.wireType === 2) key = utf8(f.value);
    else if (f.field === 2 && f.wireType === 2) value = f.value;
  }
  return [key, key.endsWith("-bin") ? value.slice() : textDecoder.decode(value)];
}

/** The RequestHead (§5.1). `timeoutMicros`: undefined for no deadline. */
function encodeRequestHead(path, timeoutMicros, metadata) {
  const w = new ProtoWriter().string(1, path);
  if (timeoutMicros !== undefined) w.varintAlways(2, timeoutMicros);
  for (const [key, value] of metadata) {
    w.message(4, new ProtoWriter().string(1, key).bytes(2, value));
  }
  return w.finish();
}

function decodeResponseHead(bytes) {
  const metadata = [];
  for (const f of new ProtoReader(bytes)) {
    if (f.field === 1 && f.wireType === 2) metadata.push(decodeMetadataEntry(f.value));
    else if (f.field === 2 && f.wireType === 2 && f.value.length > 0) {
      // This client never asks for compression, so a server never compresses (§15.3).
      throw new Error("compressed response");
    }
  }
  return metadata;
}

function decodeTrailers(bytes) {
  let code = 0;
  let message = "";
  let details = new Uint8Array(0);
  const metadata = [];
  for (const f of new ProtoReader(bytes)) {
    if (f.field === 1 && f.wireType === 0) code = Number(BigInt.asUintN(32, f.value));
    else if (f.field === 2 && f.wireType === 2) message = utf8(f.value);
    else if (f.field === 3 && f.wireType === 2) details = f.value.slice();
    else if (f.field === 4 && f.wireType === 2) metadata.push(decodeMetadataEntry(f.value));
  }
  // Codes past the table are UNKNOWN (§5.3).
  return { code: code <= 16 ? code : Code.UNKNOWN, message, details, metadata };
}

/** Reads frames from a stream's reader, checking lengths before buffering (§4.4). */
class FrameReader {
  constructor(reader, { maxMessageSize, maxHeaderListSize }) {
    this.reader = reader;
    this.chunks = [];
    this.buffered = 0;
    this.maxMessageSize = maxMessageSize;
    this.maxHeaderListSize = maxHeaderListSize;
  }

  async #fill(n) {
    while (this.buffered < n) {
      const { value, done } = await this.reader.read();
      if (done) return false;
      if (value.length > 0) {
        this.chunks.push(value);
        this.buffered += value.length;
      }
    }
    return true;
  }

  #take(n) {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** The next frame, or null at the end of the stream at a frame boundary. */
  async next() {
    for (;;) {
      if (!(await this.#fill(FRAME_HEADER))) {
        if (this.buffered === 0) return null;
        throw new RpcError(Code.INTERNAL, "response stream ended inside a frame header");
      }
      const header = this.#take(FRAME_HEADER);
      const type = header[0];
      const flags = header[1];
      const length = new DataView(header.buffer).getUint32(2, false);
      const isHeader = type === FrameType.HEADERS || type === FrameType.TRAILERS;
      const limit = isHeader ? this.maxHeaderListSize : this.maxMessageSize;
      if (length > limit) {
        const e = new RpcError(
          Code.RESOURCE_EXHAUSTED,
          `response frame of ${length} bytes exceeds the limit of ${limit}`,
        );
        e.stopCode = ErrorCode.RESOURCE_EXHAUSTED;
        throw e;
      }
      if (!(await this.#fill(length))) {
        throw new RpcError(Code.INTERNAL, "response stream ended inside a frame");
      }
      const payload = this.#take(length);
      if (type > FrameType.TRAILERS) continue; // unknown frame types are skipped (§4.1)
      return { type, flags, payload };
    }
  }
}

/** A WebTransport stream error's code, or null when it carries none. */
function streamErrorCode(e) {
  if (e && typeof e === "object" && typeof e.streamErrorCode === "number") return e.streamErrorCode;
  return null;
}

/** An abort reason carrying a stream error code, where the browser lets us make one. */
function abortReason(code) {
  try {
    return new WebTransportError("qrpc", { streamErrorCode: code });
  } catch {
    return undefined;
  }
}

/** A client over one WebTransport session. */
export class Client {
  /** @param {WebTransport} transport an open session. */
  constructor(transport, { maxMessageSize = 4 * 1024 * 1024, maxHeaderListSize = 16 * 1024 } = {}) {
    this.transport = transport;
    this.limits = { maxMessageSize, maxHeaderListSize };
  }

  /** Opens a session to `url` (`https://host:port/qrpc`) and waits until it is ready.
   *  `options` are WebTransport's (serverCertificateHashes, ...) plus the client's limits. */
  static async connect(url, options = {}) {
    const { maxMessageSize, maxHeaderListSize, ...wtOptions } = options;
    const transport = new WebTransport(url, wtOptions);
    try {
      await transport.ready;
    } catch (e) {
      throw new RpcError(Code.UNAVAILABLE, `WebTransport session to ${url} failed: ${e.message ?? e}`);
    }
    return new Client(transport, { maxMessageSize, maxHeaderListSize });
  }

  /** Closes the session. */
  close() {
    this.transport.close();
  }

  /** A unary call: resolves to the decoded response, rejects with an RpcError.
   *  `method`: { path, encode, decode } (encode/decode default to Uint8Array as is).
   *  `options`: { timeout (ms), metadata (object or [key, value] pairs), signal (AbortSignal),
   *  onHeaders(metadata), onTrailers(metadata) }. */
  async unary(method, request, options = {}) {
    let response;
    let count = 0;
    for await (const message of this.#call(method, request, options)) {
      response = message;
      count += 1;
    }
    if (count !== 1) {
      throw new RpcError(Code.INTERNAL, `unary call answered with ${count} messages`);
    }
    return response;
  }

  /** A server-streaming call: an async iterator of decoded responses; it throws an RpcError
   *  when the call fails. Breaking out of the loop cancels the call. Options as `unary`. */
  serverStreaming(method, request, options = {}) {
    return this.#call(method, request, options);
  }

  async *#call(method, request, options) {
    const encode = method.encode ?? ((m) => m);
    const decode = method.decode ?? ((b) => b);
    const call = new Call(this, method.path, options);
    try {
      await call.send(encode(request));
      for (;;) {
        const bytes = await call.nextMessage();
        if (bytes === null) return;
        let message;
        try {
          message = decode(bytes);
        } catch (e) {
          throw call.fail(new RpcError(Code.INTERNAL, `cannot decode the response: ${e.message ?? e}`), ErrorCode.CANCELLED);
        }
        yield message;
      }
    } finally {
      call.end();
    }
  }
}

/** One call's stream: sends the request, reads the response, enforces the deadline. */
class Call {
  constructor(client, path, options) {
    this.client = client;
    this.path = path;
    this.options = options;
    this.metadata = metadataEntries(options.metadata);
    this.done = false;
    this.status = null; // an RpcError once the call failed locally
    this.cleanups = [];
    // The local deadline (§8): the call ends with DEADLINE_EXCEEDED even if the server
    // never answers.
    this.failed = new Promise((_, reject) => {
      this.reject = reject;
    });
    this.failed.catch(() => {});
    if (options.timeout !== undefined) {
      const timer = setTimeout(
        () => this.fail(new RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded"), ErrorCode.DEADLINE_EXCEEDED),
        Math.max(0, options.timeout),
      );
      this.cleanups.push(() => clearTimeout(timer));
    }
    if (options.signal) {
      const onAbort = () => this.fail(new RpcError(Code.CANCELLED, "call cancelled"), ErrorCode.CANCELLED);
      if (options.signal.aborted) onAbort();
      options.signal.addEventListener("abort", onAbort);
      this.cleanups.push(() => options.signal.removeEventListener("abort", onAbort));
    }
  }

  /** Ends the call locally with `error`, resetting and stopping the stream with `code`
   *  (§9.1); returns the error. The first failure wins. */
  fail(error, code = ErrorCode.CANCELLED) {
    if (this.done) return this.status ?? error;
    this.done = true;
    this.status = error;
    this.reject(error);
    const reason = abortReason(code);
    this.writer?.abort(reason).catch(() => {});
    this.reader?.cancel(reason).catch(() => {});
    return error;
  }

  /** Waits for `promise` or the call's local failure, whichever comes first. */
  race(promise) {
    return Promise.race([promise, this.failed]);
  }

  async send(message) {
    if (this.status) throw this.status;
    const timeout = this.options.timeout;
    const timeoutMicros = timeout === undefined ? undefined : BigInt(Math.ceil(Math.max(0, timeout) * 1000));
    const head = encodeRequestHead(this.path, timeoutMicros, this.metadata);
    let stream;
    const opening = this.client.transport.createBidirectionalStream();
    try {
      stream = await this.race(opening);
    } catch (e) {
      // Failed (deadline, cancellation) while waiting for stream credit: a stream that opens
      // later is abandoned at once.
      opening.then((late) => {
        late.writable.abort(abortReason(ErrorCode.CANCELLED)).catch(() => {});
        late.readable.cancel(abortReason(ErrorCode.CANCELLED)).catch(() => {});
      }, () => {});
      throw e instanceof RpcError ? e : this.fail(new RpcError(Code.UNAVAILABLE, `cannot open a stream: ${e.message ?? e}`));
    }
    this.writer = stream.writable.getWriter();
    this.reader = stream.readable.getReader();
    this.frames = new FrameReader(this.reader, this.client.limits);
    if (this.status) {
      // Failed while the stream was being opened: abandon it.
      this.fail(this.status, ErrorCode.CANCELLED);
      throw this.status;
    }
    // Head, message and FIN in one write (§6.2). A failed write is not the outcome (§6.6):
    // the response stream says what happened.
    const bytes = new Uint8Array(FRAME_HEADER * 2 + head.length + message.length);
    bytes.set(frame(FrameType.HEADERS, head), 0);
    bytes.set(frame(FrameType.MESSAGE, message), FRAME_HEADER + head.length);
    this.writer.write(bytes).catch(() => {});
    this.writer.close().catch(() => {});
  }

  /** The next response message, or null once the call ended with OK. */
  async nextMessage() {
    for (;;) {
      if (this.status) throw this.status;
      let f;
      try {
        f = await this.race(this.frames.next());
      } catch (e) {
        throw this.#readFailure(e);
      }
      if (f === null) {
        throw this.fail(new RpcError(Code.INTERNAL, "response stream ended without a status"), ErrorCode.CANCELLED);
      }
      switch (f.type) {
        case FrameType.HEADERS:
          if (this.sawHead || this.sawMessage) {
            throw this.fail(new RpcError(Code.INTERNAL, "unexpected response head"), ErrorCode.PROTOCOL_ERROR);
          }
          this.sawHead = true;
          this.options.onHeaders?.(this.#decode(decodeResponseHead, f.payload));
          continue;
        case FrameType.MESSAGE:
          if (f.flags & 0x01) {
            throw this.fail(new RpcError(Code.INTERNAL, "compressed message, none negotiated"), ErrorCode.PROTOCOL_ERROR);
          }
          this.sawMessage = true;
          return f.payload;
        case FrameType.TRAILERS: {
          const t = this.#decode(decodeTrailers, f.payload);
          this.done = true;
          this.options.onTrailers?.(t.metadata);
          if (t.code === Code.OK) return null;
          this.status = new RpcError(t.code, t.message, { details: t.details, metadata: t.metadata });
          throw this.status;
        }
      }
    }
  }

  #decode(fn, payload) {
    try {
      return fn(payload);
    } catch (e) {
      throw this.fail(new RpcError(Code.INTERNAL, `malformed header block: ${e.message ?? e}`), ErrorCode.PROTOCOL_ERROR);
    }
  }

  /** The status of a failed read of the response stream. */
  #readFailure(e) {
    if (this.status) return this.status;
    if (e instanceof RpcError) return this.fail(e, e.stopCode ?? ErrorCode.CANCELLED);
    const code = streamErrorCode(e);
    if (code !== null && e.source === "stream") {
      // A reset of the response stream (§7.2).
      return this.fail(new RpcError(statusOfResetCode(code), `stream reset by the server (code ${code})`));
    }
    return this.fail(new RpcError(Code.UNAVAILABLE, `WebTransport session lost: ${e?.message ?? e}`));
  }

  /** Releases the call: cancels it if it did not end (the caller stopped iterating). */
  end() {
    for (const cleanup of this.cleanups) cleanup();
    if (!this.done) this.fail(new RpcError(Code.CANCELLED, "call cancelled"), ErrorCode.CANCELLED);
  }
}

/** A certificate hash in hex (as the server prints it), as `serverCertificateHashes` wants. */
export function hashFromHex(hex) {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "");
  if (clean.length !== 64) throw new Error("a SHA-256 hash is 64 hex digits");
  return Uint8Array.from(clean.match(/../g), (b) => parseInt(b, 16));
}
