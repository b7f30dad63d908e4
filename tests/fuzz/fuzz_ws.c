/*
 * libFuzzer harness: lib/ws.c as both ends read it. The first byte picks
 * the side (client reads unmasked server frames, server reads masked
 * client frames) or the handshake answer, and how the rest is cut into
 * reads; the bytes are then fed to dr_ws_reader or dr_ws_handshake_check.
 * Invariants: messages within max_message, control frames within 125
 * bytes and never fragmented, a handshake length within what was read;
 * and a frame we encode from the input reads back as the same payload.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/buf.h"
#include "delego/ws.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handshake(const uint8_t *data, size_t size)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	int status = -1;
	int r = dr_ws_handshake_check((const char *)data, size, key, &status);
	if (r > 0 && ((size_t)r > size || r > DR_WS_HANDSHAKE_MAX || status != 101))
		abort();
	if (r < 0 && r != -EPROTO && r != -E2BIG)
		abort();
	if (r == -E2BIG && size <= DR_WS_HANDSHAKE_MAX)
		abort();
}

static void read_frames(const uint8_t *data, size_t size, bool server, size_t chunk)
{
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, MAX_MESSAGE, server);
	size_t off = 0;
	int rc = 0;
	while (off < size && rc >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (dr_ws_reader_feed(&r, data + off, n) < 0)
			break;
		off += n;
		struct dr_ws_message m;
		while ((rc = dr_ws_reader_next(&r, &m)) == 1) {
			if (m.data[m.len] != '\0')
				abort();
			if (m.opcode == DR_WS_TEXT || m.opcode == DR_WS_BINARY) {
				if (m.len > MAX_MESSAGE)
					abort();
			} else if (m.opcode == DR_WS_CLOSE || m.opcode == DR_WS_PING || m.opcode == DR_WS_PONG) {
				if (m.len > 125)
					abort();
			} else {
				abort(); /* continuation frames never come out alone */
			}
		}
		if (rc < 0 && rc != -EPROTO && rc != -E2BIG)
			abort();
	}
	dr_ws_reader_release(&r);
}

/* What we send reads back as itself, split anywhere. */
static void round_trip(const uint8_t *data, size_t size, bool masked, size_t split)
{
	static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	if (size > MAX_MESSAGE)
		size = MAX_MESSAGE;
	struct dr_buf out = DR_BUF_INIT(0);
	if (dr_ws_frame_encode(&out, DR_WS_BINARY, true, data, size, masked ? mask : NULL) < 0)
		abort();
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, MAX_MESSAGE, masked);
	if (split > out.len)
		split = out.len;
	struct dr_ws_message m;
	int got = dr_ws_reader_feed(&r, out.buf, split) < 0 ? -1 : dr_ws_reader_next(&r, &m);
	if (got < 0 || (got == 1 && split < out.len))
		abort();
	if (got == 0 && (dr_ws_reader_feed(&r, out.buf + split, out.len - split) < 0 || dr_ws_reader_next(&r, &m) != 1))
		abort();
	if (m.opcode != DR_WS_BINARY || m.len != size || (size && memcmp(m.data, data, size) != 0))
		abort();
	dr_ws_reader_release(&r);
	dr_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	size_t chunk = (size_t)(mode >> 2) + 1;
	switch (mode & 3) {
	case 0:
		handshake(data, size);
		break;
	case 1:
		read_frames(data, size, false, chunk);
		break;
	case 2:
		read_frames(data, size, true, chunk);
		break;
	default:
		round_trip(data, size, mode & 4, chunk * 3);
		break;
	}
	return 0;
}
