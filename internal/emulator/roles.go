package emulator

import "strings"

// rolePermissions are the permissions of the predefined roles the
// emulators check, abridged to the permissions of the emulated methods.
// Sources: Cloud Run IAM roles and permissions
// (cloud.google.com/run/docs/reference/iam/roles and …/permissions),
// Artifact Registry roles (cloud.google.com/artifact-registry/docs/access-control#roles),
// IAM's service account roles (cloud.google.com/iam/docs/service-account-permissions)
// and the basic roles (cloud.google.com/iam/docs/roles-overview#basic).
// A pattern ending in ".*" grants every permission with that prefix; the
// basic roles are approximated (owner: everything; editor: everything
// but setting IAM policies; viewer: get, list and getIamPolicy) — their
// exact lists are unverified.
var rolePermissions = map[string][]string{
	"roles/owner":  {"*"},
	"roles/editor": {"*"}, // minus setIamPolicy: see RoleGrants
	"roles/viewer": {"*.get", "*.list", "*.getIamPolicy", "artifactregistry.repositories.downloadArtifacts"},

	"roles/run.admin": {"run.*"},
	"roles/run.developer": {
		"run.services.get", "run.services.list", "run.services.create", "run.services.update", "run.services.delete", "run.services.getIamPolicy",
		"run.revisions.get", "run.revisions.list", "run.revisions.delete",
		"run.operations.get", "run.operations.list", "run.operations.delete",
		"run.configurations.get", "run.configurations.list", "run.routes.get", "run.routes.list", "run.locations.list",
	},
	"roles/run.viewer": {
		"run.services.get", "run.services.list", "run.services.getIamPolicy", "run.revisions.get", "run.revisions.list",
		"run.operations.get", "run.operations.list", "run.configurations.get", "run.configurations.list", "run.routes.get", "run.routes.list", "run.locations.list",
	},
	"roles/run.invoker": {"run.routes.invoke"},

	"roles/artifactregistry.reader": {
		"artifactregistry.repositories.get", "artifactregistry.repositories.list", "artifactregistry.repositories.downloadArtifacts",
		"artifactregistry.packages.get", "artifactregistry.packages.list", "artifactregistry.versions.get", "artifactregistry.versions.list",
		"artifactregistry.tags.get", "artifactregistry.tags.list", "artifactregistry.dockerimages.get", "artifactregistry.dockerimages.list",
		"artifactregistry.files.get", "artifactregistry.files.list",
	},
	"roles/artifactregistry.writer": {
		"artifactregistry.repositories.get", "artifactregistry.repositories.list", "artifactregistry.repositories.downloadArtifacts",
		"artifactregistry.repositories.uploadArtifacts",
		"artifactregistry.packages.get", "artifactregistry.packages.list", "artifactregistry.versions.get", "artifactregistry.versions.list",
		"artifactregistry.tags.get", "artifactregistry.tags.list", "artifactregistry.tags.create", "artifactregistry.tags.update",
		"artifactregistry.dockerimages.get", "artifactregistry.dockerimages.list", "artifactregistry.files.get", "artifactregistry.files.list",
	},
	"roles/artifactregistry.repoAdmin": {
		"artifactregistry.repositories.get", "artifactregistry.repositories.list", "artifactregistry.repositories.downloadArtifacts",
		"artifactregistry.repositories.uploadArtifacts", "artifactregistry.repositories.deleteArtifacts",
		"artifactregistry.packages.*", "artifactregistry.versions.*", "artifactregistry.tags.*", "artifactregistry.dockerimages.*", "artifactregistry.files.*",
	},
	"roles/artifactregistry.admin": {"artifactregistry.*"},

	"roles/iam.serviceAccountUser":         {"iam.serviceAccounts.actAs", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},
	"roles/iam.serviceAccountTokenCreator": {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt", "iam.serviceAccounts.implicitDelegation", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},
	"roles/iam.workloadIdentityUser":       {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},

	"roles/monitoring.viewer": {"monitoring.*.get", "monitoring.*.list", "monitoring.timeSeries.list"},
}

// RoleGrants reports whether role includes permission (see
// rolePermissions; an unknown role grants nothing).
func RoleGrants(role, permission string) bool {
	if role == "roles/editor" && strings.HasSuffix(permission, ".setIamPolicy") {
		return false
	}
	for _, p := range rolePermissions[role] {
		if grants(p, permission) {
			return true
		}
	}
	return false
}

// grants matches a permission pattern: exact, "*", "prefix.*" or
// "*.verb" (and "monitoring.*.list").
func grants(pattern, permission string) bool {
	switch {
	case pattern == "*" || pattern == permission:
		return true
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(permission, strings.TrimSuffix(pattern, "*"))
	case strings.Contains(pattern, "*"):
		before, after, _ := strings.Cut(pattern, "*")
		return strings.HasPrefix(permission, before) && strings.HasSuffix(permission, after) && len(permission) > len(before)+len(after)
	}
	return false
}
