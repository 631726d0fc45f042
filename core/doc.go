// Package core holds haul's domain: its types, its rules and its use cases.
// It imports neither the HTTP framework nor the database; it owns the small
// interfaces it consumes (Store, Tx) and the adapters implement them.
//
// Words used here:
//
//   - Team: the root scope of ownership and configuration.
//   - User: a person who can log in, identified by a unique email.
//   - Membership (member): a User in a Team with one Role. Its id is the
//     "member id" of MASV's API, distinct from the user id.
//   - Role: owner (exactly one per team), admin, integration_manager,
//     member or guest. What each may do is the role × action table in
//     roles.go, the only place permissions are decided.
//   - Principal: the authenticated user behind a request and how it proved
//     it (API key, user token, UI session cookie, or the operator's CLI).
//   - API key: a secret acting with its user's rights in one team; only
//     its SHA-256 is stored.
//   - Session: one login; user tokens name their session so logout and
//     password changes revoke them.
//   - Teamspace: a group of members of one team.
//   - Event: one entry of the product's event store (MASV's activities).
//   - Package: the unit of transfer, a virtual folder of Files, with a
//     state (new, finalized, expired, archived) and an expiry. Its token
//     (X-Package-Token) is the only credential of package routes.
//   - File: a file of a package: name, folder path, size, chunk size, and
//     once finalized its blocks and BLAKE3 digest.
//   - Upload and Part: a file's multipart upload (S3's) and its durable
//     parts, each holding block references until the file is finalized.
//   - Blueprint: a pre-signed request (url, method, headers, body) that a
//     client replays exactly, MASV's way of handing out the data plane.
//   - Signed URL: a data-plane URL whose query carries an HMAC of the
//     method, path, parameters and expiry (urlsign.go).
//   - Keyring: the HMAC keys that sign tokens and URLs; rotated keys keep
//     verifying until every signature they made has expired.
//
// Every failure is an *Error with a Kind; httpd maps kinds to HTTP status
// in one function. Messages in errors are safe to show to clients and
// never contain secrets.
package core
