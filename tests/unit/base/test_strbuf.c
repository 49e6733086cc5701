/* strbuf: building in pieces, formatting past the room there is, reset, detach, overflow. */
#include "unit.h"

#include "base/strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_empty_is_a_string(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb.len, 0);
	strbuf_reset(&sb);
	strbuf_release(&sb);
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb.alloc, 0);
}

static void test_pieces(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_int_equal(strbuf_addstr(&sb, "user"), 0);
	assert_int_equal(strbuf_addch(&sb, ':'), 0);
	assert_int_equal(strbuf_add(&sb, "secretXX", 6), 0);
	assert_int_equal(strbuf_addf(&sb, "@%s:%d", "host", 443), 0);
	assert_string_equal(sb.buf, "user:secret@host:443");
	assert_int_equal(sb.len, strlen("user:secret@host:443"));
	assert_true(sb.alloc > sb.len);
	strbuf_release(&sb);
}

/* A format longer than the room left takes the second vsnprintf; what was there stays. */
static void test_addf_past_the_room(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char want[1100];

	(void)state;
	memset(want, 'a', 1000);
	assert_int_equal(strbuf_addstr(&sb, "x"), 0);
	assert_int_equal(strbuf_addf(&sb, "%.*s|%d", 1000, want, 7), 0);
	want[0] = 'x';
	memset(want + 1, 'a', 1000);
	strcpy(want + 1001, "|7");
	assert_string_equal(sb.buf, want);
	assert_int_equal(sb.len, 1003);
	strbuf_release(&sb);
}

/* Reset keeps the block and wipes what the string held. */
static void test_reset_wipes(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t alloc, i;

	(void)state;
	assert_int_equal(strbuf_addstr(&sb, "hunter2"), 0);
	alloc = sb.alloc;
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.alloc, alloc);
	assert_string_equal(sb.buf, "");
	for (i = 0; i < strlen("hunter2"); i++)
		assert_int_equal(sb.buf[i], 0);
	assert_int_equal(strbuf_addstr(&sb, "ok"), 0);
	assert_string_equal(sb.buf, "ok");
	strbuf_release(&sb);
}

static void test_detach(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len = 99;
	char *s;

	(void)state;
	s = strbuf_detach(&sb, &len); /* nothing added: still a string of its own */
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	assert_int_equal(strbuf_addf(&sb, "%s/%s", "a", "b"), 0);
	s = strbuf_detach(&sb, &len);
	assert_string_equal(s, "a/b");
	assert_int_equal(len, 3);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.alloc, 0);
	assert_string_equal(sb.buf, "");
	free(s);
}

/* One character at a time: the block grows geometrically, not once per character. */
static void test_growth_is_amortized(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i, growths = 0, alloc = 0;

	(void)state;
	for (i = 0; i < 100000; i++) {
		assert_int_equal(strbuf_addch(&sb, (char)('a' + i % 26)), 0);
		if (sb.alloc != alloc)
			growths++, alloc = sb.alloc;
	}
	assert_int_equal(sb.len, 100000);
	assert_int_equal(sb.buf[99999], 'a' + 99999 % 26);
	assert_true(growths < 30);
	strbuf_release(&sb);
}

static void test_overflow_refused(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char msg[256];
	int saved;
	FILE *tmp;

	(void)state;
	assert_int_equal(strbuf_addstr(&sb, "kept"), 0);
	tmp = capture_begin(&saved);
	assert_int_equal(strbuf_grow(&sb, SIZE_MAX - 2), -1);
	assert_int_equal(strbuf_add(&sb, "x", SIZE_MAX), -1);
	capture_end(tmp, saved, msg, sizeof(msg));
	assert_non_null(strstr(msg, "berth: error: out of memory"));
	assert_string_equal(sb.buf, "kept");
	assert_int_equal(sb.len, 4);
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_a_string),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_addf_past_the_room),
		cmocka_unit_test(test_reset_wipes),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_growth_is_amortized),
		cmocka_unit_test(test_overflow_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
