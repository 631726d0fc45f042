package httpd

import (
	"github.com/gofiber/fiber/v2"
)

// route is one entry of the route table: every route haul serves is
// listed here, and /v1/openapi.json is generated from this table.
type route struct {
	method  string
	path    string // Fiber pattern, :name for parameters
	auth    string // "none", "user" (X-API-KEY, X-User-Token or session cookie), "user_token" (no API keys), "optional" (a user token or session if sent), "metrics", "package" (X-Package-Token only), "package+user" (X-Package-Token and a team member's X-API-KEY or X-User-Token), "signed" (a URL signed by haul)
	summary string
	handler fiber.Handler
}

// routeTable lists every route. Handlers are thin: parse, principal, one
// core call, response.
func (s *Server) routeTable() []route {
	a := s.authed
	return []route{
		// Operations.
		{"GET", "/healthz", "none", "Liveness: the process serves HTTP.", s.healthz},
		{"GET", "/readyz", "none", "Readiness: the metadata store answers.", s.readyz},
		{"GET", "/metrics", "metrics", "Prometheus metrics (bearer token, or loopback only).", s.serveMetrics},
		{"GET", "/v1/openapi.json", "none", "This API's description.", s.openAPI},

		// Authentication and the caller's own profile.
		{"POST", "/v1/auth", "none", "Log in with email and password; returns a user token (X-User-Token).", s.login},
		{"POST", "/v1/auth/session", "none", "Log in for the web UI: sets a session cookie and returns a CSRF token.", s.loginSession},
		{"POST", "/v1/auth/logout", "user_token", "End the current session (user token or session cookie).", a(s.logout)},
		{"POST", "/v1/auth/password_reset", "none", "Mail a single-use password reset link ({email}); the answer does not say whether the account exists.", s.requestPasswordReset},
		{"POST", "/v1/auth/password_reset/:token", "none", "Set a new password with a reset link's token ({password}); every session of the account ends.", s.resetPassword},
		{"GET", "/v1/users/me", "user", "The caller's profile and teams.", a(s.getProfile)},
		{"PUT", "/v1/users/me", "user_token", "Change the caller's name or time zone.", a(s.updateProfile)},
		{"PUT", "/v1/users/me/password", "user_token", "Change the caller's password (current password required).", a(s.changePassword)},
		{"GET", "/v1/invitations/:token", "none", "Describe a pending invitation.", s.getInvitation},
		{"POST", "/v1/invitations/:token/accept", "optional", "Accept an invitation; returns a user token. A new user chooses a password; an existing user (existing_user) sends their current password or accepts while logged in as that account.", s.acceptInvitation},

		// Teams and members.
		{"GET", "/v1/teams", "user", "The caller's teams.", a(s.listTeams)},
		{"GET", "/v1/teams/:team_id", "user", "One team.", a(s.getTeam)},
		{"PUT", "/v1/teams/:team_id", "user", "Change team settings (owner, admin).", a(s.updateTeam)},
		{"POST", "/v1/teams/:team_id/transfer_ownership", "user", "Make another member the owner (owner only).", a(s.transferOwnership)},
		{"GET", "/v1/teams/:team_id/members", "user", "The team's members (membership objects).", a(s.listMembers)},
		{"POST", "/v1/teams/:team_id/members", "user", "Invite a member with a role; returns the invitation link.", a(s.addMember)},
		{"PUT", "/v1/teams/:team_id/members/:member_id", "user", "Change a member's role.", a(s.updateMember)},
		{"DELETE", "/v1/teams/:team_id/members/:member_id", "user", "Remove a member; their API keys stop working.", a(s.removeMember)},
		{"GET", "/v1.1/teams/:team_id/events", "user", "The team's events, newest first; sort=created_at for oldest first (owner, admin).", a(s.listEvents)},
		{"GET", "/v1/teams/:team_id/mail_deliveries", "user", "The team's outgoing mails, newest first (state=pending, sent or failed; failed ones say why) (owner, admin).", a(s.listDeliveries)},
		{"GET", "/v1/system/storage", "user", "Storage figures: capacity, physical and logical bytes, dedup, geometry, scrub, repairs (owner, admin).", a(s.systemStorage)},
		{"GET", "/v1.1/teams/:team_id/activities", "user", "The team's transfer activities (uploads, links, downloads), newest first; filters activity_types[], activity_states[], package_id, teamspaces[], portals[], created_at_start, created_at_end; sort=created_at for oldest first (owner, admin).", a(s.listActivities)},
		{"GET", "/v1/teams/:team_id/activities/:activity_id", "user", "One activity with its download records (file, range, bytes sent, client address) (owner, admin).", a(s.getActivity)},
		{"GET", "/v1/teams/:team_id/activities/:activity_id/events", "user", "An activity's state changes, oldest first (owner, admin).", a(s.activityEvents)},

		// API keys.
		{"POST", "/v1/teams/:team_id/api_keys", "user_token", "Create an API key; the secret is returned once.", a(s.createAPIKey)},
		{"GET", "/v1/teams/:team_id/api_keys", "user_token", "List API keys (the owner sees all, others their own).", a(s.listAPIKeys)},
		{"PUT", "/v1/api_keys/:key_id", "user_token", "Change an API key's name, description, expiry or state.", a(s.updateAPIKey)},
		{"DELETE", "/v1/api_keys/:key_id", "user_token", "Delete an API key.", a(s.deleteAPIKey)},

		// Teamspaces.
		{"POST", "/v1/teams/:team_id/spaces", "user", "Create a teamspace.", a(s.createSpace)},
		{"GET", "/v1.1/teams/:team_id/spaces", "user", "List teamspaces (paged).", a(s.listSpaces)},
		{"GET", "/v1/spaces/:space_id", "user", "One teamspace.", a(s.getSpace)},
		{"PUT", "/v1/spaces/:space_id", "user", "Rename a teamspace or replace its members.", a(s.updateSpace)},
		{"DELETE", "/v1/spaces/:space_id", "user", "Delete a teamspace.", a(s.deleteSpace)},
		{"POST", "/v1/spaces/:space_id/members", "user", "Add members to a teamspace.", a(s.addSpaceMembers)},
		{"DELETE", "/v1/spaces/:space_id/members/:member_id", "user", "Remove a member from a teamspace.", a(s.removeSpaceMember)},

		// Packages.
		{"POST", "/v1/teams/:team_id/packages", "user", "Create a team package; the answer's access_token is its package token (owner, admin, integration manager, member).", a(s.createPackage)},
		{"GET", "/v1.1/teams/:team_id/packages", "user", "List packages (paged; status[] defaults to finalized and expired; sort name, created_at, size, expiry). Owner and admins see all, others their own.", a(s.listPackages)},
		{"GET", "/v1/teams/:team_id/packages", "user", "List packages, MASV's legacy form: boolean filters new, finalized, expired, archived; a bare array.", a(s.listPackagesLegacy)},
		{"GET", "/v1.1/teams/:team_id/packages/:package_id", "user", "One package with its access_token (owner and admins, or its creator).", a(s.getPackage)},
		{"PUT", "/v1/packages/:package_id", "package", "Change a package's name or description.", s.updatePackage},
		{"PUT", "/v1/packages/:package_id/expiry", "package", "Move a package's expiry ({expiry}; unlimited_storage is not offered).", s.setPackageExpiry},
		{"DELETE", "/v1/packages/:package_id", "package", "Delete a package: it becomes archived and its data is released.", s.deletePackage},
		{"POST", "/v1/packages/:package_id/finalize", "package", "Finalize (lock) a package once every file is finalized.", s.finalizePackage},
		{"GET", "/v1/system/packages/spec", "none", "Upload limits: max_chunk_count, max_chunk_size, min_chunk_size, block_size.", s.packageSpec},

		// Files and the upload flow (MASV's blueprints).
		{"POST", "/v1/packages/:package_id/files", "package", "Add a file; returns its create_blueprint (S3 CreateMultipartUpload on a signed URL).", s.addFile},
		{"GET", "/v1/packages/:package_id/files", "package", "The package's files with their digests (lowercase hex BLAKE3, as b3sum prints), and once finalized its zip (kind zip_windows, id zip); full or download token.", s.listFiles},
		{"GET", "/v1/packages/:package_id/files/:file_id/download", "package", "A signed GET URL of a file's bytes (file_id zip: the whole package as a zip); a download token's first URL counts one access of its link.", s.downloadURL},
		{"POST", "/v1/packages/:package_id/download_complete", "package", "A client reports a finished download (download token): completes the download once every file or the zip was served whole.", s.completeDownload},

		// Portals, their forms and the inbox.
		{"POST", "/v1/teams/:team_id/portals", "user", "Create a portal (owner, admin); it starts inactive unless active is sent.", a(s.createPortal)},
		{"GET", "/v1.1/teams/:team_id/portals", "user", "List portals (paged; name, subdomain, teamspaces[]; sort name, created_at, active, subdomain) (owner, admin).", a(s.listPortals)},
		{"GET", "/v1.1/portals/:portal_id", "user", "One portal; secrets show only as has_access_code and has_download_password (owner, admin).", a(s.getPortal)},
		{"PUT", "/v1/portals/:portal_id", "user", "Change a portal's settings; fields left out stay (owner, admin).", a(s.updatePortal)},
		{"DELETE", "/v1/portals/:portal_id", "user", "Delete a portal, its form and branding; received packages stay (owner, admin).", a(s.deletePortal)},
		{"PUT", "/v1/portals/:portal_id/logo", "user", "Upload the portal's logo (the raw PNG, JPEG, GIF or WebP body, at most 2 MiB) (owner, admin).", a(s.putPortalAsset)},
		{"DELETE", "/v1/portals/:portal_id/logo", "user", "Remove the portal's logo (owner, admin).", a(s.deletePortalAsset)},
		{"GET", "/v1/portals/:portal_id/logo", "none", "The portal's logo.", s.getPortalAsset},
		{"PUT", "/v1/portals/:portal_id/background", "user", "Upload the portal's background image (as the logo) (owner, admin).", a(s.putPortalAsset)},
		{"DELETE", "/v1/portals/:portal_id/background", "user", "Remove the portal's background image (owner, admin).", a(s.deletePortalAsset)},
		{"GET", "/v1/portals/:portal_id/background", "none", "The portal's background image.", s.getPortalAsset},
		{"GET", "/v1/subdomains/portals/:subdomain", "none", "A portal's public face, what an upload page needs (no secrets).", s.portalBySubdomain},
		{"POST", "/v1/portals/:portal_id/packages", "optional", "Create a package through a portal ({name, sender, description, access_code or X-Access-Code, form_data_id, terms_accepted}); returns a portal sender's package token.", s.createPortalPackage},
		{"POST", "/v1/portals/:portal_id/form", "user", "Create the portal's metadata form ({name, delivery_formats, fields}; no fields: the three default ones) (owner, admin).", a(s.putForm(true))},
		{"GET", "/v1/portals/:portal_id/form", "user", "The portal's form (owner, admin).", a(s.getForm)},
		{"PUT", "/v1/portals/:portal_id/form", "user", "Replace the portal's form (owner, admin).", a(s.putForm(false))},
		{"DELETE", "/v1/portals/:portal_id/form", "user", "Remove the portal's form (owner, admin).", a(s.deleteForm)},
		{"POST", "/v1/portals/:portal_id/form/responses", "none", "Answer the portal's form ({values: {field: value}}); returns the id to send as form_data_id.", s.submitFormResponse},
		{"GET", "/v1.1/teams/:team_id/inbox", "user", "Packages received through portals that the caller may read (the package list's filters, and portal: a portal's name).", a(s.inbox)},

		// Custom webhooks.
		{"POST", "/v1/teams/:team_id/custom_webhooks", "user", "Create a webhook ({name, events, url, method, headers, body_extras}); the answer's secret signs deliveries and is shown once (owner, admin, integration manager).", a(s.createWebhook)},
		{"GET", "/v1/teams/:team_id/custom_webhooks", "user", "The team's webhooks (owner, admin, integration manager).", a(s.listWebhooks)},
		{"GET", "/v1/custom_webhooks/:webhook_id", "user", "One webhook.", a(s.getWebhook)},
		{"PUT", "/v1/custom_webhooks/:webhook_id", "user", "Change a webhook.", a(s.updateWebhook)},
		{"DELETE", "/v1/custom_webhooks/:webhook_id", "user", "Delete a webhook.", a(s.deleteWebhook)},
		{"GET", "/v1/custom_webhooks/:webhook_id/deliveries", "user", "A webhook's delivery log, newest first: each attempt's status, latency and error.", a(s.webhookDeliveries)},

		// Links.
		{"POST", "/v1/packages/:package_id/links", "package", "Create a link (email empty: a direct-download link), with password, expiry, access_limit.", s.createLink},
		{"GET", "/v1/packages/:package_id/links", "package", "The package's links, disabled ones included.", s.listLinks},
		{"DELETE", "/v1/packages/:package_id/links/:link_id", "package", "Disable a link: it is kept for history, and no new download starts through it.", s.disableLink},
		{"GET", "/v1/links/:link_id", "none", "Open a link (?secret=, X-Link-Password): the package and a download-level package token.", s.openLink},
		{"DELETE", "/v1/packages/:package_id/files/:file_id", "package", "Remove a file before the package is finalized; its data is released.", s.deleteFile},
		{"POST", "/v1/packages/:package_id/files/:file_id", "package", "Part blueprints for parts start+1..start+count of the upload in the body ({upload_id}).", s.partURLs},
		{"GET", "/v1/packages/:package_id/files/:file_id/uploads/:upload_id", "package", "Signed ListParts and Abort blueprints of an upload (haul's, for resuming).", s.uploadURLs},
		{"POST", "/v1/packages/:package_id/files/:file_id/finalize", "package", "Finalize a file from its parts (chunk_extras, file_extras.upload_id, size).", s.finalizeFile},

		// Resume by content (haul's, beyond MASV): team members only.
		{"GET", "/v1/teams/:team_id/block_key", "user", "The team's block key (hex) and block_size, to compute block addresses for resume by content (owner, admin, integration manager, member; X-API-KEY or X-User-Token).", a(s.blockKey)},
		{"POST", "/v1/packages/:package_id/files/:file_id/known_blocks", "package+user", "Which of the given block addresses ({hashes}, at most 10,000) the team stores ({known}).", s.knownBlocks},
		{"POST", "/v1/packages/:package_id/files/:file_id/parts/:part_number/by_reference", "package+user", "Record a part made only of blocks the team stores ({upload_id, blocks:[{hash, offset, length}]}); answers its etag.", s.partByReference},

		// The data plane: S3's multipart upload on signed URLs; S3 XML errors.
		{"POST", "/s3/:package_id/:file_id", "signed", "S3 CreateMultipartUpload (?uploads): InitiateMultipartUploadResult XML.", s.s3Post},
		{"PUT", "/s3/:package_id/:file_id", "signed", "S3 UploadPart (?partNumber=&uploadId=): streams the part into the chunk store; answers its ETag once durable.", s.s3Put},
		{"GET", "/s3/:package_id/:file_id", "signed", "S3 ListParts (?uploadId=): the durable parts.", s.s3Get},
		{"DELETE", "/s3/:package_id/:file_id", "signed", "S3 AbortMultipartUpload (?uploadId=): releases the parts.", s.s3Delete},
		{"GET", "/dl/:package_id/:file_id", "signed", "A file's (or the zip's) bytes: Range, If-Range, ETag (the digest), Content-Disposition.", s.serveDownload},
		{"HEAD", "/dl/:package_id/:file_id", "signed", "A file's (or the zip's) headers: size, ETag, ranges accepted.", s.serveDownload},

		// MASV routes haul does not offer.
		{"GET", "/v1/teams/:team_id/cloud_connections", "none", "Not offered: haul keeps data on the appliance.", s.notOffered},
		{"POST", "/v1/teams/:team_id/cloud_connections", "none", "Not offered: haul keeps data on the appliance.", s.notOffered},
		{"GET", "/v1/cloud_connections/:id", "none", "Not offered.", s.notOffered},
		{"PUT", "/v1/cloud_connections/:id", "none", "Not offered.", s.notOffered},
		{"DELETE", "/v1/cloud_connections/:id", "none", "Not offered.", s.notOffered},
		{"GET", "/v1/packages/:package_id/transfer", "none", "Not offered: cloud transfers.", s.notOffered},
		{"POST", "/v1/packages/:package_id/transfer", "none", "Not offered: cloud transfers.", s.notOffered},
		{"GET", "/v1/teams/:team_id/tags", "none", "Not offered: tags.", s.notOffered},
		{"POST", "/v1/teams/:team_id/tags", "none", "Not offered: tags.", s.notOffered},
		{"GET", "/v1.1/teams/:team_id/tags", "none", "Not offered: tags.", s.notOffered},

		// The web UI.
		{"GET", "/", "none", "The web UI.", s.uiIndex},
		{"GET", "/invitations/:token", "none", "The invitation page of the web UI.", s.uiIndex},
		{"GET", "/password_reset/:token", "none", "The password reset page of the web UI.", s.uiIndex},
		{"GET", "/ui/*", "none", "Static files of the web UI.", s.uiStatic},
		// Last: a link's page ({public_url}/{link_id}?secret=), on the main
		// host and on server.download_host.
		{"GET", "/:link_id", "none", "A link's download page (?secret=).", s.downloadPage},
	}
}
