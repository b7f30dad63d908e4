/*
 * libFuzzer harness: a Phoenix message (one WebSocket text message from
 * the Realtime server) through dr_phoenix_decode, then what the runner
 * reads from it: the reply status and the postgres_changes record. A
 * decoded message must have a topic, an event and an object payload, and
 * must survive a re-encode (both vsn forms) with the same topic and event.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/phoenix.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_phoenix_msg m;
	if (dr_phoenix_decode((const char *)data, size, &m) < 0)
		return 0;
	if (!m.topic || !m.event || !cJSON_IsObject(m.payload))
		abort();
	(void)dr_phoenix_reply_status(&m);
	struct dr_phoenix_change c;
	if (dr_phoenix_change_parse(m.payload, &c) == 0) {
		if (strnlen(c.type, sizeof c.type) == sizeof c.type)
			abort();
		(void)dr_phoenix_change_cancels(&c);
	}
	for (int array = 0; array < 2; array++) {
		char *text = dr_phoenix_encode(m.topic, m.event, cJSON_Duplicate(m.payload, 1), m.ref, m.join_ref, array);
		struct dr_phoenix_msg back;
		if (dr_phoenix_decode(text, strlen(text), &back) == 0) {
			if (strcmp(back.topic, m.topic) != 0 || strcmp(back.event, m.event) != 0)
				abort();
			dr_phoenix_msg_release(&back);
		}
		free(text);
	}
	dr_phoenix_msg_release(&m);
	return 0;
}
