// Package identity turns the kernel's word about a connection (the cgroup that opened it) and
// an identity provider's signature into the verified identity a session carries to policy,
// masking and audit. Nothing the client says takes part.
//
// The chain is: cgroup id (from the redirect's origin record) -> cgroup path (cgroup.PathOf)
// -> workload (Attribute: container id, pod UID) -> the token bound to that cgroup (an
// enrollment, a static rule, or the pod's projected service-account token) -> verification
// with go-oidc (Verifier) -> bindings -> Identity. Resolver runs the chain and caches each step,
// so the proxy can repeat the lookup before every statement: a grant lasts exactly as long as
// its token, and a refreshed token extends live sessions.
//
// # Why bindings should name immutable claims
//
// A binding decides who is admitted, so it must name something that cannot later come to mean
// someone else. Names can: a GitHub repository or organisation can be renamed, deleted and
// recreated by another account under the same name, a GitLab project path moves with its
// group, and a Kubernetes pod or service account name is reused by the next object created
// with it. A binding on "repository: octo-org/app" keeps admitting whoever holds that name
// today; a binding on "repository_id: 123456789" admits only the repository it was written
// for, whatever it is called now. The same holds for repository_owner_id over
// repository_owner, project_id and namespace_id over project_path and namespace_path, and the
// pod UID over the pod name. So bind the immutable id, and add the name only as a second,
// narrowing key for readability; Config.Warnings flags bindings that rely on a name alone.
// The identity a Kubernetes pod gets is keyed the same way: the cgroup gives the pod UID, and
// the pod's token must carry that UID (kubernetes.io.pod.uid), so a token of another pod with
// the same name, past or present, is refused.
//
// # Fail closed
//
// Every step that cannot decide refuses: conflicting ids in a cgroup path, a pod hierarchy
// outside the configured kubelet prefixes, an issuer that cannot be reached for a key the
// cache lacks, a refetch budget that is spent, an expired or unbound token. Keys already
// fetched stay cached through a provider outage, so known keys keep working while unknown ones
// are refused.
package identity
