/*
 * ws: RFC 6455 WebSocket framing and handshake checks, as pure functions
 * over bytes (no sockets, no loop), shared by the runner's realtime client
 * and delego-relay's realtime endpoint.
 *
 * Why our own framing rather than wslay or libwebsockets: Debian's libcurl
 * 7.88 has no WebSocket support, so the transport is curl CONNECT_ONLY on
 * our loop either way; what is left is framing, which for one text
 * protocol (Phoenix JSON) is masking, text, ping/pong, close and
 * continuation frames: about as much code as the glue to a framing library
 * would be, with no new package on any platform (Debian, macOS/Homebrew),
 * and every size capped where we can see it.
 *
 * SHA-1 here is only the handshake's Sec-WebSocket-Accept checksum, which
 * RFC 6455 requires; it protects nothing.
 */
#ifndef DELEGO_WS_H
#define DELEGO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delego/buf.h"

enum dr_ws_opcode {
	DR_WS_CONT = 0x0,
	DR_WS_TEXT = 0x1,
	DR_WS_BINARY = 0x2,
	DR_WS_CLOSE = 0x8,
	DR_WS_PING = 0x9,
	DR_WS_PONG = 0xA,
};

/* Largest handshake answer (status line and headers) we read. */
#define DR_WS_HANDSHAKE_MAX 8192

/*
 * Appends one frame to out. mask is the 4-byte masking key a client must
 * use, or NULL for a server's unmasked frame. Returns 0 or -E2BIG (out's cap).
 */
int dr_ws_frame_encode(struct dr_buf *out, enum dr_ws_opcode op, bool fin, const void *payload, size_t len,
		       const uint8_t *mask);

/*
 * Reassembles messages from a byte stream. Control frames (close, ping,
 * pong) come out as they arrive, also between the fragments of a message.
 */
struct dr_ws_reader {
	struct dr_buf in;      /* private: bytes not yet parsed */
	struct dr_buf msg;     /* private: the fragmented message so far */
	int msg_opcode;        /* private: -1 when no fragmented message is open */
	size_t max_message;    /* public: cap on one message's payload */
	bool expect_masked;    /* public: true on the server side (client frames are masked) */
	size_t consume;        /* private: bytes of the frame last returned */
	char ctl[126];         /* private: the control frame last returned */
};

struct dr_ws_message {
	enum dr_ws_opcode opcode; /* TEXT, BINARY (whole messages), CLOSE, PING or PONG */
	const char *data;         /* borrowed until the next call; NUL-terminated */
	size_t len;
};

void dr_ws_reader_init(struct dr_ws_reader *r, size_t max_message, bool expect_masked);
void dr_ws_reader_release(struct dr_ws_reader *r);
/* Adds received bytes. -E2BIG when more than one message's worth is pending. */
int dr_ws_reader_feed(struct dr_ws_reader *r, const void *data, size_t len);
/*
 * The next message: 1 with *m filled, 0 when more bytes are needed,
 * -EPROTO for a frame the RFC forbids (bad opcode, reserved bits, masking
 * on the wrong side, fragmented or oversized control frame), -E2BIG for a
 * message over max_message.
 */
int dr_ws_reader_next(struct dr_ws_reader *r, struct dr_ws_message *m);

/* Standard base64 (with padding) of n bytes into out (at least 4*((n+2)/3)+1). */
void dr_ws_base64(const void *data, size_t n, char *out);
/* The Sec-WebSocket-Accept value for a key: base64(SHA-1(key + GUID)), into out[29]. */
void dr_ws_accept_key(const char *key, char out[29]);

/*
 * Checks a client's handshake answer in data[0..len). Returns the length
 * of the status line and headers (the frames start after them) when it is a
 * valid "101" upgrade whose Sec-WebSocket-Accept matches key, 0 when the
 * headers are not complete yet, -EPROTO when it is not a valid upgrade
 * (*status gets the HTTP status when one was read, else 0), -E2BIG when the
 * headers pass DR_WS_HANDSHAKE_MAX.
 */
int dr_ws_handshake_check(const char *data, size_t len, const char *key, int *status);

#endif
