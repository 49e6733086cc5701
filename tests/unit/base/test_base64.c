/* base64: RFC 4648 vectors, whitespace, every rejection, the size cap, and round trips. */
#include "unit.h"

#include "base/base64.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *plain, *encoded;
} vectors[] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

#define WHY_SIZE 128

static unsigned char *decode(const char *in, size_t max, size_t *len, char *why)
{
	why[0] = '\0';
	*len = (size_t)-1;
	return base64_decode(in, strlen(in), max, len, why, WHY_SIZE);
}

static void test_rfc4648_decode(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(vectors); i++) {
		char why[WHY_SIZE];
		size_t len;
		unsigned char *out = decode(vectors[i].encoded, 1024, &len, why);

		assert_non_null(out);
		assert_string_equal(why, "");
		assert_int_equal(len, strlen(vectors[i].plain));
		assert_memory_equal(out, vectors[i].plain, len);
		assert_int_equal(out[len], '\0');
		free(out);
	}
}

static void test_rfc4648_encode(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(vectors); i++) {
		char *out = base64_encode((const unsigned char *)vectors[i].plain,
					  strlen(vectors[i].plain));

		assert_non_null(out);
		assert_string_equal(out, vectors[i].encoded);
		free(out);
	}
}

static void test_whitespace_ignored(void **state)
{
	static const struct {
		const char *in, *plain;
	} cases[] = {
		{"Zm9v\nYmFy\n", "foobar"},
		{" Zm9vYmFy", "foobar"},
		{"Z m 9 v Y m F y", "foobar"},
		{"Zm9v\r\nYmE=\r\n", "fooba"},
		{"\tZm9vYg=\n=\n", "foob"},
		{"Zm8\v=\f", "fo"},
		{"\n\n \t", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char why[WHY_SIZE];
		size_t len;
		unsigned char *out = decode(cases[i].in, 1024, &len, why);

		assert_non_null(out);
		assert_int_equal(len, strlen(cases[i].plain));
		assert_memory_equal(out, cases[i].plain, len);
		free(out);
	}
}

static void test_rejected(void **state)
{
	static const char *bad[] = {
		"Zm9vYg",	/* missing padding */
		"Zm9vY",	/* a lone symbol in the last group */
		"Zm9v!",	/* outside the alphabet */
		"Zm9v-_8=",	/* the URL-safe alphabet */
		"Zm-v",		/* '-' alone */
		"Zm_v",		/* '_' alone */
		"Zg==Zg==",	/* data after padding */
		"Zg=a",		/* a symbol after '=' */
		"Z===",		/* '=' too early */
		"====",		/* only padding */
		"=",		/* only padding */
		"Zh==",		/* non-canonical: low bits set */
		"Zm9=",		/* non-canonical with one '=' */
		"Zm9vYg===",	/* too much padding */
		"Zm9v\x80YmFy", /* a non-ASCII byte */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char why[WHY_SIZE];
		size_t len;
		unsigned char *out = decode(bad[i], 1024, &len, why);

		if (out)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(why[0] != '\0');
		assert_true(strlen(why) > 0);
	}
	{
		/* A NUL inside the counted length is no whitespace either. */
		char why[WHY_SIZE] = "";
		size_t len;

		assert_null(base64_decode("Zm9v\0YmFy", 9, 1024, &len, why, sizeof(why)));
		assert_true(why[0] != '\0');
	}
}

static void test_reasons(void **state)
{
	static const struct {
		const char *in, *why_has;
	} cases[] = {
		{"Zm9vYg", "padding"}, {"Zm9v!", "alphabet"},	  {"Zg==Zg==", "after"},
		{"Z===", "padding"},   {"Zh==", "non-canonical"}, {"Zm9v-_8=", "alphabet"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char why[WHY_SIZE];
		size_t len;

		assert_null(decode(cases[i].in, 1024, &len, why));
		assert_true(why[0] != '\0');
		assert_non_null(strstr(why, cases[i].why_has));
	}
}

static void test_max_cap(void **state)
{
	char why[WHY_SIZE];
	size_t len;
	unsigned char *out;

	(void)state;
	out = decode("Zm9vYmFy", 6, &len, why);
	assert_non_null(out);
	assert_int_equal(len, 6);
	free(out);
	assert_null(decode("Zm9vYmFy", 5, &len, why));
	assert_string_equal(why, base64_too_large);
	assert_non_null(strstr(why, "larger"));

	out = decode("Zm9vYg==", 4, &len, why);
	assert_non_null(out);
	assert_int_equal(len, 4);
	free(out);
	assert_null(decode("Zm9vYg==", 3, &len, why));
	assert_true(why[0] != '\0');

	out = decode("", 0, &len, why);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
	assert_null(decode("Zg==", 0, &len, why));
	assert_true(why[0] != '\0');
}

/* A fixed generator: the same bytes on every run. */
static unsigned next_random(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static void test_round_trip(void **state)
{
	unsigned seed = 42;
	size_t n, round;

	(void)state;
	for (round = 0; round < 8; round++) {
		for (n = 0; n <= 64; n++) {
			unsigned char in[64];
			char why[WHY_SIZE] = "";
			size_t i, len = 0;
			char *enc;
			unsigned char *dec;

			for (i = 0; i < n; i++)
				in[i] = (unsigned char)next_random(&seed);
			enc = base64_encode(in, n);
			assert_non_null(enc);
			assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
			assert_int_equal(
				strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					    "0123456789+/="),
				strlen(enc));
			dec = base64_decode(enc, strlen(enc), n, &len, why, sizeof(why));
			assert_non_null(dec);
			assert_int_equal(len, n);
			if (n)
				assert_memory_equal(dec, in, n);
			free(dec);
			free(enc);
		}
	}
}

static void test_every_byte_value(void **state)
{
	unsigned char in[256];
	char why[WHY_SIZE] = "";
	size_t i, len = 0;
	char *enc;
	unsigned char *dec;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	enc = base64_encode(in, sizeof(in));
	assert_non_null(enc);
	dec = base64_decode(enc, strlen(enc), sizeof(in), &len, why, sizeof(why));
	assert_non_null(dec);
	assert_int_equal(len, sizeof(in));
	assert_memory_equal(dec, in, sizeof(in));
	free(dec);
	free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_decode),
		cmocka_unit_test(test_rfc4648_encode),
		cmocka_unit_test(test_whitespace_ignored),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_max_cap),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_byte_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
