/* Unit tests for cmd/cdc-sink-es/docid.c and sha256.c: document ids and index names. */
#include "../../cmd/cdc-sink-es/docid.h"
#include "sha256.h"
#include "tap.h"

static const char *
id_of(const char *key, struct buf *b, const char **err)
{
	buf_reset(b);
	if (docid_from_key(key, key ? strlen(key) : 0, b, err) < 0)
		return NULL;
	return b->data ? b->data : "";
}

int
main(void)
{
	struct buf b = BUF_INIT;
	const char *err = NULL;
	char hex[SHA256_HEX_BUFSZ];

	/* FIPS 180-4 examples. */
	is_str(sha256_hex("abc", 3, hex), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 abc");
	is_str(sha256_hex("", 0, hex), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256 empty");
	is_str(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex),
	       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "sha256 two blocks");

	is_str(id_of("{\"id\":7}", &b, &err), "7", "number key");
	is_str(id_of("{\"id\":\"a-b\"}", &b, &err), "a-b", "string key as is");
	is_str(id_of("{\"id\":\"\\u00e9\\n\"}", &b, &err), "\xc3\xa9\n", "string key decoded");
	is_str(id_of("{\"id\":-1.5e3}", &b, &err), "-1.5e3", "number literal kept");
	is_str(id_of("{\"id\":true}", &b, &err), "true", "boolean key");
	is_str(id_of("{\"id\":\"a,b%\"}", &b, &err), "a,b%", "one column: no escaping");
	is_str(id_of("{\"a\":1,\"b\":\"x\"}", &b, &err), "1,x", "two columns joined");
	is_str(id_of("{\"a\":\"1,2\",\"b\":\"3\"}", &b, &err), "1%2C2,3", "comma escaped");
	is_str(id_of("{\"a\":\"1\",\"b\":\"2,3\"}", &b, &err), "1,2%2C3", "unambiguous join");
	is_str(id_of("{\"a\":\"50%\",\"b\":\"%2C\"}", &b, &err), "50%25,%252C", "percent escaped");
	ok(id_of("null", &b, &err) == NULL && strcmp(err, "no key") == 0, "null key: no key");
	ok(id_of(NULL, &b, &err) == NULL && strcmp(err, "no key") == 0, "absent key: no key");
	ok(id_of("{}", &b, &err) == NULL, "empty key refused");
	ok(id_of("{\"id\":\"\"}", &b, &err) == NULL && b.len == 0, "empty string key refused (no empty _id)");
	is_str(id_of("{\"a\":\"\",\"b\":\"\"}", &b, &err), ",", "two empty strings: a comma, not empty");
	ok(id_of("{\"id\":null}", &b, &err) == NULL, "null column refused");
	ok(id_of("[1]", &b, &err) == NULL, "array key refused");
	ok(id_of("{\"a\":1,\"b\":null}", &b, &err) == NULL && b.len == 0, "null in second column refused, nothing left");
	/* A column named twice: which value is the row's?  (Found by fuzz_docid.) */
	ok(id_of("{\"a\":1,\"c\":2,\"c\":3}", &b, &err) == NULL && b.len == 0 &&
	   strcmp(err, "key names a column twice") == 0, "a key naming a column twice refused");
	ok(id_of("{\"c\":2,\"\\u0063\":3}", &b, &err) == NULL, "the same name written with an escape refused");
	is_str(id_of("{\"c\":2,\"C\":3,\"cc\":4}", &b, &err), "2,3,4", "names alike but not the same kept");

	/* Over-long ids are hashed. */
	{
		struct buf key = BUF_INIT, want = BUF_INIT;
		char h[SHA256_HEX_BUFSZ];

		buf_adds(&key, "{\"id\":\"");
		for (int i = 0; i < 513; i++)
			buf_addc(&key, 'x');
		buf_adds(&key, "\"}");
		id_of(key.data, &b, &err);
		buf_adds(&want, "sha256:");
		buf_adds(&want, sha256_hex(key.data + 7, 513, h));
		is_str(b.data, want.data, "513-byte id hashed");
		buf_setlen(&key, 7 + 512);
		buf_adds(&key, "\"}");
		id_of(key.data, &b, &err);
		is_int(b.len, 512, "512-byte id kept");
		buf_release(&key);
		buf_release(&want);
	}

	/* Old ids from a before image. */
	buf_reset(&b);
	is_int(docid_from_image("{\"a\":1,\"b\":2}", 13, "{\"b\":20,\"x\":0,\"a\":10}", 21, &b, &err), 1,
	       "old id from image");
	is_str(b.data, "10,20", "old id in key order");
	buf_reset(&b);
	is_int(docid_from_image("{\"a\":1}", 7, "{\"b\":2}", 7, &b, &err), 0, "image lacking a column");
	is_int(docid_from_image("{\"a\":1}", 7, "null", 4, &b, &err), 0, "null image");
	is_int(docid_from_image("{\"c\":1,\"c\":[2]}", 15, "{\"c\":1,\"c\":[2]}", 15, &b, &err), -1,
	       "old id: a key naming a column twice refused");
	is_int(b.len, 0, "old id: nothing appended for it");

	/* Index names. */
	{
		struct event_info ev;
		const char *line = "{\"op\":\"c\",\"source\":{\"db\":\"Shop\",\"schema\":\"public\",\"table\":\"Orders\","
				   "\"commit_lsn\":1,\"seq\":1}}";

		ok(event_scan(line, strlen(line), &ev, &err) == 0, "scan");
		buf_reset(&b);
		index_name("{db}-{schema}.{table}-x{y}", &ev, &b);
		is_str(b.data, "shop-public.orders-x{y}", "template replaced, lower-cased");
		ok(index_has_table("a-{table}") && !index_has_table("a-{schema}"), "index_has_table");
	}
	ok(doc_hash("i", 1, "1", 1) != doc_hash("i1", 2, "", 0), "hash separates index and id");
	buf_release(&b);
	return tap_done();
}
