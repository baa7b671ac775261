// The route_guide messages (proto/route_guide.proto) and a minimal gRPC-Web call over
// fetch, for the demo page and the browser test. Demo code: a real application would use a
// protobuf library's generated encoders and a gRPC-Web client library.

import { Code, ProtoReader, ProtoWriter, RpcError, int32, utf8 } from "../qrpc.mjs";

const pointWriter = (p) => new ProtoWriter().varint(1, p.latitude ?? 0).varint(2, p.longitude ?? 0);

function decodePoint(bytes) {
  const p = { latitude: 0, longitude: 0 };
  for (const f of new ProtoReader(bytes)) {
    if (f.field === 1 && f.wireType === 0) p.latitude = int32(f.value);
    else if (f.field === 2 && f.wireType === 0) p.longitude = int32(f.value);
  }
  return p;
}

function decodeFeature(bytes) {
  const feature = { name: "", location: null };
  for (const f of new ProtoReader(bytes)) {
    if (f.field === 1 && f.wireType === 2) feature.name = utf8(f.value);
    else if (f.field === 2 && f.wireType === 2) feature.location = decodePoint(f.value);
  }
  return feature;
}

const SERVICE = "/routeguide.RouteGuide/";

/** RouteGuide's methods, for `Client.unary` / `Client.serverStreaming`. */
export const RouteGuide = {
  GetFeature: {
    path: SERVICE + "GetFeature",
    encode: (point) => pointWriter(point).finish(),
    decode: decodeFeature,
  },
  ListFeatures: {
    path: SERVICE + "ListFeatures",
    encode: (rect) => new ProtoWriter().message(1, pointWriter(rect.lo)).message(2, pointWriter(rect.hi)).finish(),
    decode: decodeFeature,
  },
};

/** A gRPC-Web call (application/grpc-web+proto) with fetch: resolves to the decoded
 *  response messages, rejects with an RpcError. `timeout` in ms becomes `grpc-timeout`. */
export async function grpcWeb(baseUrl, method, request, { timeout, metadata = {} } = {}) {
  const message = method.encode(request);
  const body = new Uint8Array(5 + message.length);
  new DataView(body.buffer).setUint32(1, message.length, false);
  body.set(message, 5);
  const headers = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...metadata };
  if (timeout !== undefined) headers["grpc-timeout"] = `${Math.ceil(timeout)}m`;
  let response;
  try {
    response = await fetch(baseUrl + method.path, { method: "POST", headers, body });
  } catch (e) {
    throw new RpcError(Code.UNAVAILABLE, `fetch failed: ${e.message ?? e}`);
  }
  if (!response.ok) throw new RpcError(Code.UNKNOWN, `HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const messages = [];
  let trailers = null;
  for (let at = 0; at + 5 <= bytes.length; ) {
    const flag = bytes[at];
    const len = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0, false);
    const payload = bytes.subarray(at + 5, at + 5 + len);
    at += 5 + len;
    if (flag & 0x80) trailers = new TextDecoder().decode(payload);
    else messages.push(method.decode(payload));
  }
  // The status: in the trailers frame, or in the headers of a trailers-only response.
  const fields = new Map();
  for (const line of (trailers ?? "").split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const status = fields.get("grpc-status") ?? response.headers.get("grpc-status");
  const text = fields.get("grpc-message") ?? response.headers.get("grpc-message") ?? "";
  if (status === null || status === undefined) throw new RpcError(Code.UNKNOWN, "no grpc-status");
  const code = Number(status);
  if (code !== Code.OK) throw new RpcError(code, decodeURIComponent(text));
  return messages;
}
