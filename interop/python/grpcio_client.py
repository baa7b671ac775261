"""gRPC interop cases with Python's grpcio, against any gRPC server over HTTP/2.

    python grpcio_client.py --server HOST:PORT [--case NAME ...]

Needs the venv and stubs of setup.sh (on sys.path through PYTHONPATH=<venv>/stubs). Runs each
case as gRPC's interop test descriptions define it, prints "PASS name" or "FAIL name: why" per
case, and exits non-zero if any failed.
"""

import argparse
import queue
import sys
import threading
import time
import traceback

import grpc

from interop_pb import empty_pb2, messages_pb2, test_pb2_grpc

LARGE_REQUEST = 271828
LARGE_RESPONSE = 314159
REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
INITIAL_KEY = "x-grpc-test-echo-initial"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
TRAILING_VALUE = b"\xab\xab\xab"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
TIMEOUT = 20


class Failure(Exception):
    pass


def ensure(cond, what):
    if not cond:
        raise Failure(what)


def payload(size):
    return messages_pb2.Payload(body=b"\0" * size)


def empty_unary(stub, _channel):
    reply = stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
    ensure(reply == empty_pb2.Empty(), "reply is not empty")


def large_unary(stub, _channel):
    req = messages_pb2.SimpleRequest(response_size=LARGE_RESPONSE, payload=payload(LARGE_REQUEST))
    reply = stub.UnaryCall(req, timeout=TIMEOUT)
    ensure(len(reply.payload.body) == LARGE_RESPONSE, "wrong response size")


def gzip_requests(stub, _channel):
    """Not one of gRPC's cases: large_unary and client_streaming with gzip-compressed
    requests, which the server decompresses."""
    req = messages_pb2.SimpleRequest(response_size=LARGE_RESPONSE, payload=payload(LARGE_REQUEST))
    reply = stub.UnaryCall(req, timeout=TIMEOUT, compression=grpc.Compression.Gzip)
    ensure(len(reply.payload.body) == LARGE_RESPONSE, "wrong response size")
    reqs = (messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in REQUEST_SIZES)
    reply = stub.StreamingInputCall(reqs, timeout=TIMEOUT, compression=grpc.Compression.Gzip)
    ensure(reply.aggregated_payload_size == sum(REQUEST_SIZES), "wrong aggregated size")


def client_streaming(stub, _channel):
    reqs = (messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in REQUEST_SIZES)
    reply = stub.StreamingInputCall(reqs, timeout=TIMEOUT)
    ensure(reply.aggregated_payload_size == sum(REQUEST_SIZES), "wrong aggregated size")


def server_streaming(stub, _channel):
    req = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=n) for n in RESPONSE_SIZES])
    sizes = [len(r.payload.body) for r in stub.StreamingOutputCall(req, timeout=TIMEOUT)]
    ensure(sizes == RESPONSE_SIZES, f"sizes {sizes}")


class Pipe:
    """A request iterator fed from the test, for ping-pong calls."""

    def __init__(self):
        self._q = queue.Queue()

    def add(self, item):
        self._q.put(item)

    def close(self):
        self._q.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is None:
            raise StopIteration
        return item


def ping_pong(stub, _channel):
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=TIMEOUT)
    for req_size, resp_size in zip(REQUEST_SIZES, RESPONSE_SIZES):
        pipe.add(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=resp_size)],
            payload=payload(req_size)))
        reply = next(call)
        ensure(len(reply.payload.body) == resp_size, "wrong response size")
    pipe.close()
    ensure(next(call, None) is None, "a response too many")


def empty_stream(stub, _channel):
    call = stub.FullDuplexCall(iter([]), timeout=TIMEOUT)
    ensure(next(call, None) is None, "a response to no request")


def custom_metadata(stub, _channel):
    md = ((INITIAL_KEY, INITIAL_VALUE), (TRAILING_KEY, TRAILING_VALUE))

    def check(initial, trailing):
        ensure((INITIAL_KEY, INITIAL_VALUE) in list(initial), f"initial metadata {initial}")
        ensure((TRAILING_KEY, TRAILING_VALUE) in list(trailing), f"trailing metadata {trailing}")

    req = messages_pb2.SimpleRequest(response_size=LARGE_RESPONSE, payload=payload(LARGE_REQUEST))
    reply, call = stub.UnaryCall.with_call(req, metadata=md, timeout=TIMEOUT)
    ensure(len(reply.payload.body) == LARGE_RESPONSE, "wrong response size")
    check(call.initial_metadata(), call.trailing_metadata())

    req = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=LARGE_RESPONSE)],
        payload=payload(LARGE_REQUEST))
    call = stub.FullDuplexCall(iter([req]), metadata=md, timeout=TIMEOUT)
    replies = list(call)
    ensure(len(replies) == 1, "one response")
    check(call.initial_metadata(), call.trailing_metadata())


def expect_status(fn, code, message=None):
    try:
        fn()
    except grpc.RpcError as e:
        ensure(e.code() == code, f"code {e.code()}, want {code} ({e.details()!r})")
        if message is not None:
            ensure(e.details() == message, f"message {e.details()!r}, want {message!r}")
        return
    raise Failure(f"call succeeded, want {code}")


def status_code_and_message(stub, _channel):
    msg = "test status message"
    status = messages_pb2.EchoStatus(code=2, message=msg)
    expect_status(lambda: stub.UnaryCall(
        messages_pb2.SimpleRequest(response_status=status), timeout=TIMEOUT),
        grpc.StatusCode.UNKNOWN, msg)
    req = messages_pb2.StreamingOutputCallRequest(response_status=status)
    expect_status(lambda: list(stub.FullDuplexCall(iter([req]), timeout=TIMEOUT)),
                  grpc.StatusCode.UNKNOWN, msg)


def special_status_message(stub, _channel):
    status = messages_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE)
    expect_status(lambda: stub.UnaryCall(
        messages_pb2.SimpleRequest(response_status=status), timeout=TIMEOUT),
        grpc.StatusCode.UNKNOWN, SPECIAL_MESSAGE)


def unimplemented_method(stub, _channel):
    expect_status(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT),
                  grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(_stub, channel):
    stub = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_status(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT),
                  grpc.StatusCode.UNIMPLEMENTED)


def timeout_on_sleeping_server(stub, _channel):
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.add(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
    try:
        expect_status(lambda: next(call), grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        pipe.close()


def cancel_after_begin(stub, _channel):
    pipe = Pipe()
    future = stub.StreamingInputCall.future(pipe, timeout=TIMEOUT)
    future.cancel()
    ensure(future.cancelled(), "not cancelled")
    ensure(future.code() == grpc.StatusCode.CANCELLED, f"code {future.code()}")
    pipe.close()


def cancel_after_first_response(stub, _channel):
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=TIMEOUT)
    pipe.add(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=31415)],
        payload=payload(27182)))
    reply = next(call)
    ensure(len(reply.payload.body) == 31415, "wrong response size")
    call.cancel()
    expect_status(lambda: next(call), grpc.StatusCode.CANCELLED)
    pipe.close()


CASES = [
    empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
    custom_metadata, status_code_and_message, special_status_message, unimplemented_method,
    unimplemented_service, timeout_on_sleeping_server, cancel_after_begin,
    cancel_after_first_response, gzip_requests,
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--case", action="append")
    parser.add_argument("--tls_ca", help="PEM certificate to trust: TLS (ALPN h2) instead of h2c")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.case or c.__name__ in args.case]
    failed = 0
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(args.server, creds)
    else:
        channel = grpc.insecure_channel(args.server)
    with channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        stub = test_pb2_grpc.TestServiceStub(channel)
        for case in cases:
            start = time.monotonic()
            try:
                case(stub, channel)
                print(f"PASS {case.__name__} ({time.monotonic() - start:.3f}s)", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
                print(f"FAIL {case.__name__}: {detail}", flush=True)
    print(f"{len(cases) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
