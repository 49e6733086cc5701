/*
 * The REST client's reading of a request in RBAC's terms (kube_rbac_of): the verb, resource and
 * namespace a Role must grant, as the API server derives them from the method and path.
 */
#include "unit.h"

#include "kube/kube.h"

#include <stdio.h>
#include <string.h>

#define LEASES "/apis/coordination.k8s.io/v1/namespaces/berth-locks/leases"

static void test_rbac_of(void **state)
{
	static const struct {
		const char *method, *path, *verb, *resource, *ns;
	} cases[] = {
		{"GET", LEASES "/berth-abc", "get", "leases.coordination.k8s.io", "berth-locks"},
		{"GET", LEASES "?labelSelector=a%3Db", "list", "leases.coordination.k8s.io",
		 "berth-locks"},
		{"GET", LEASES, "list", "leases.coordination.k8s.io", "berth-locks"},
		{"GET", LEASES "?watch=1&fieldSelector=metadata.name%3Dx&timeoutSeconds=1", "watch",
		 "leases.coordination.k8s.io", "berth-locks"},
		{"GET", LEASES "?watch=true", "watch", "leases.coordination.k8s.io", "berth-locks"},
		{"POST", LEASES, "create", "leases.coordination.k8s.io", "berth-locks"},
		{"PUT", LEASES "/berth-abc", "update", "leases.coordination.k8s.io", "berth-locks"},
		{"PATCH", LEASES "/berth-abc", "patch", "leases.coordination.k8s.io",
		 "berth-locks"},
		{"DELETE", LEASES "/berth-abc-7", "delete", "leases.coordination.k8s.io",
		 "berth-locks"},
		{"DELETE", LEASES, "deletecollection", "leases.coordination.k8s.io", "berth-locks"},
		/* The core group has no suffix; namespaces themselves are cluster-wide. */
		{"POST", "/api/v1/namespaces", "create", "namespaces", ""},
		{"GET", "/api/v1/namespaces/berth-locks", "get", "namespaces", ""},
		{"GET", "/api/v1/namespaces/ns/pods?limit=500", "list", "pods", "ns"},
		{"GET", "/api/v1/pods", "list", "pods", ""},
		{"GET", "//api//v1/namespaces/ns/pods/p", "get", "pods", "ns"},
		/* Not a resource: the path itself. */
		{"GET", "/version", "get", "/version", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kube_rbac got;

		kube_rbac_of(cases[i].method, cases[i].path, &got);
		if (strcmp(got.verb, cases[i].verb) || strcmp(got.resource, cases[i].resource) ||
		    strcmp(got.ns, cases[i].ns))
			fail_msg("%s %s: got %s %s in '%s', want %s %s in '%s'", cases[i].method,
				 cases[i].path, got.verb, got.resource, got.ns, cases[i].verb,
				 cases[i].resource, cases[i].ns);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbac_of),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
