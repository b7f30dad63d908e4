#include "delego/ws.h"
#include "check_main.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

START_TEST(accept_key_and_base64_match_the_rfcs)
{
	char b64[16];
	/* RFC 4648 section 10: every padding case. */
	dr_ws_base64("f", 1, b64);
	ck_assert_str_eq(b64, "Zg==");
	dr_ws_base64("fo", 2, b64);
	ck_assert_str_eq(b64, "Zm8=");
	dr_ws_base64("foobar", 6, b64);
	ck_assert_str_eq(b64, "Zm9vYmFy");
	char acc[29];
	dr_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
	ck_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(client_frames_are_masked_and_read_back)
{
	struct dr_buf out = DR_BUF_INIT(0);
	const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	ck_assert_int_eq(dr_ws_frame_encode(&out, DR_WS_TEXT, true, "Hello", 5, mask), 0);
	/* RFC 6455 section 5.7: a masked "Hello". */
	const uint8_t want[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	ck_assert_uint_eq(out.len, sizeof(want));
	ck_assert(!memcmp(out.buf, want, sizeof(want)));
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, 1024, true);
	struct dr_ws_message m;
	/* Byte by byte: nothing until the frame is whole. */
	for (size_t i = 0; i + 1 < out.len; i++) {
		ck_assert_int_eq(dr_ws_reader_feed(&r, out.buf + i, 1), 0);
		ck_assert_int_eq(dr_ws_reader_next(&r, &m), 0);
	}
	ck_assert_int_eq(dr_ws_reader_feed(&r, out.buf + out.len - 1, 1), 0);
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.opcode, DR_WS_TEXT);
	ck_assert_str_eq(m.data, "Hello");
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 0);
	dr_ws_reader_release(&r);
	dr_buf_release(&out);
}
END_TEST

START_TEST(lengths_16_and_64_bit)
{
	static char big[70000];
	memset(big, 'x', sizeof(big));
	struct dr_buf out = DR_BUF_INIT(0);
	ck_assert_int_eq(dr_ws_frame_encode(&out, DR_WS_TEXT, true, big, 300, NULL), 0);
	ck_assert_uint_eq((uint8_t)out.buf[1], 126);
	ck_assert_int_eq(dr_ws_frame_encode(&out, DR_WS_BINARY, true, big, sizeof(big), NULL), 0);
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, 100000, false);
	ck_assert_int_eq(dr_ws_reader_feed(&r, out.buf, out.len), 0);
	struct dr_ws_message m;
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 1);
	ck_assert_uint_eq(m.len, 300);
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.opcode, DR_WS_BINARY);
	ck_assert_uint_eq(m.len, sizeof(big));
	dr_ws_reader_release(&r);
	dr_buf_release(&out);
}
END_TEST

START_TEST(fragments_with_a_ping_between)
{
	struct dr_buf out = DR_BUF_INIT(0);
	dr_ws_frame_encode(&out, DR_WS_TEXT, false, "Hel", 3, NULL);
	dr_ws_frame_encode(&out, DR_WS_PING, true, "p", 1, NULL);
	dr_ws_frame_encode(&out, DR_WS_CONT, true, "lo", 2, NULL);
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, 1024, false);
	dr_ws_reader_feed(&r, out.buf, out.len);
	struct dr_ws_message m;
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.opcode, DR_WS_PING);
	ck_assert_str_eq(m.data, "p");
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 1);
	ck_assert_int_eq(m.opcode, DR_WS_TEXT);
	ck_assert_str_eq(m.data, "Hello");
	ck_assert_int_eq(dr_ws_reader_next(&r, &m), 0);
	dr_ws_reader_release(&r);
	dr_buf_release(&out);
}
END_TEST

static int read_one(const void *bytes, size_t n, size_t max, bool masked)
{
	struct dr_ws_reader r;
	dr_ws_reader_init(&r, max, masked);
	struct dr_ws_message m;
	int rc = dr_ws_reader_feed(&r, bytes, n);
	if (rc == 0)
		rc = dr_ws_reader_next(&r, &m);
	dr_ws_reader_release(&r);
	return rc;
}

START_TEST(protocol_errors_and_caps)
{
	const uint8_t rsv[] = { 0xC1, 0x00 };
	ck_assert_int_eq(read_one(rsv, 2, 100, false), -EPROTO);
	const uint8_t op3[] = { 0x83, 0x00 };
	ck_assert_int_eq(read_one(op3, 2, 100, false), -EPROTO);
	const uint8_t unmasked_to_server[] = { 0x81, 0x01, 'a' };
	ck_assert_int_eq(read_one(unmasked_to_server, 3, 100, true), -EPROTO);
	const uint8_t masked_to_client[] = { 0x81, 0x81, 0, 0, 0, 0, 'a' };
	ck_assert_int_eq(read_one(masked_to_client, 7, 100, false), -EPROTO);
	const uint8_t fragmented_ping[] = { 0x09, 0x00 };
	ck_assert_int_eq(read_one(fragmented_ping, 2, 100, false), -EPROTO);
	const uint8_t long_ping[] = { 0x89, 126, 0, 200 };
	ck_assert_int_eq(read_one(long_ping, 4, 1000, false), -EPROTO);
	const uint8_t cont_first[] = { 0x80, 0x00 };
	ck_assert_int_eq(read_one(cont_first, 2, 100, false), -EPROTO);
	/* A declared 4 GiB message is refused from its header alone. */
	const uint8_t huge[] = { 0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0 };
	ck_assert_int_eq(read_one(huge, sizeof(huge), 1 << 20, false), -E2BIG);
	const uint8_t top_bit[] = { 0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };
	ck_assert_int_eq(read_one(top_bit, sizeof(top_bit), 1 << 20, false), -EPROTO);
	/* Fragments that add up past the cap. */
	struct dr_buf out = DR_BUF_INIT(0);
	dr_ws_frame_encode(&out, DR_WS_TEXT, false, "12345678", 8, NULL);
	dr_ws_frame_encode(&out, DR_WS_CONT, true, "12345678", 8, NULL);
	ck_assert_int_eq(read_one(out.buf, out.len, 10, false), -E2BIG);
	dr_buf_release(&out);
}
END_TEST

START_TEST(handshake_answer)
{
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	const char *good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
	int status;
	size_t hl = strlen(good) - 1; /* strlen stops at the frame's 0x00; the headers end before 0x81 */
	ck_assert_int_eq(dr_ws_handshake_check(good, hl + 1, key, &status), (int)hl);
	ck_assert_int_eq(status, 101);
	ck_assert_int_eq(dr_ws_handshake_check(good, 40, key, &status), 0);
	const char *bad_accept = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
	ck_assert_int_eq(dr_ws_handshake_check(bad_accept, strlen(bad_accept), key, &status), -EPROTO);
	const char *refused = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
	ck_assert_int_eq(dr_ws_handshake_check(refused, strlen(refused), key, &status), -EPROTO);
	ck_assert_int_eq(status, 401);
	static char flood[DR_WS_HANDSHAKE_MAX + 10];
	memset(flood, 'a', sizeof(flood));
	ck_assert_int_eq(dr_ws_handshake_check(flood, sizeof(flood), key, &status), -E2BIG);
}
END_TEST

static Suite *ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc = tcase_create("ws");
	tcase_add_test(tc, accept_key_and_base64_match_the_rfcs);
	tcase_add_test(tc, client_frames_are_masked_and_read_back);
	tcase_add_test(tc, lengths_16_and_64_bit);
	tcase_add_test(tc, fragments_with_a_ping_between);
	tcase_add_test(tc, protocol_errors_and_caps);
	tcase_add_test(tc, handshake_answer);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(ws_suite)
