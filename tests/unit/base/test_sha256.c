/* SHA-256 against FIPS 180-4 test vectors and sha256sum, and every padding boundary. */
#include "unit.h"

#include "base/sha256.h"

#include <string.h>

static void check(const char *text, size_t len, const char *want)
{
	char hex[SHA256_HEX_SIZE];

	sha256_hex(text, len, hex);
	assert_string_equal(hex, want);
}

static void test_vectors(void **state)
{
	(void)state;
	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check("deploy/42/production", 20,
	      "8ae23f501e0b8c64f7b47257d7f7ecc4c566b2ac0e073f4d4f6fb34d006468eb");
}

/* 55, 56, 63, 64 and 65 bytes: the length field fits, does not fit, and a second block. */
static void test_padding_boundaries(void **state)
{
	static const char *want[] = {
		"9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
		"b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
		"7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
		"ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
		"635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
	};
	static const size_t lens[] = {55, 56, 63, 64, 65};
	char a[80];
	size_t i;

	(void)state;
	memset(a, 'a', sizeof(a));
	for (i = 0; i < 5; i++)
		check(a, lens[i], want[i]);
}

/* Fed in uneven pieces, the stream gives the one-shot digest. */
static void test_streaming(void **state)
{
	char data[1000], one[SHA256_HEX_SIZE], streamed[SHA256_HEX_SIZE];
	struct sha256 c;
	size_t i, at = 0, step = 1;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	sha256_hex(data, sizeof(data), one);
	sha256_init(&c);
	while (at < sizeof(data)) {
		size_t n = at + step > sizeof(data) ? sizeof(data) - at : step;

		sha256_update(&c, data + at, n);
		at += n;
		step = step * 3 % 97 + 1;
	}
	sha256_final(&c, streamed);
	assert_string_equal(streamed, one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_padding_boundaries),
		cmocka_unit_test(test_streaming),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
