// Package meta is haul's metadata store: it implements core.Store on Badger,
// and it is the only package of haul that touches Badger.
//
// These are the words of the package.
//
// A record is one core value (a Team, a User, a Membership...) stored under a
// key made of its kind and its id, such as "team/<id>". The codec is
// encoding/json of the core type, whose fields carry json tags; a core.Hash
// is encoded as its hex text. Values are copied out of a transaction before
// they are decoded, so nothing handed out aliases Badger's memory.
//
// A key is built by key, which joins its parts with "/". A prefix is a key
// that ends in "/", so the prefix "team/" never matches "team_sub/...". Ids
// are ULIDs and never contain "/"; a Put refuses an id that is empty or has
// one, because it would break the layout.
//
// An index entry finds a record by something other than its id, and is
// written in the same transaction as its record. A unique entry
// ("user_email/<email>") holds the id of the one record that owns it; a Put
// that would take an entry owned by another record fails with core.Exists
// before it writes anything. A list entry ("mem_team/<team id>/<id>") ends
// in the id of its record and has an empty value, so a list is read with a
// key-only prefix scan. A Put compares the entries of the stored record with
// those of the new one, deletes the entries that went away and writes the
// ones that came; a Delete removes the record and all its entries.
//
// The key layout:
//
//	sys/schema                        schema version (a JSON number)
//	sys/keys                          signing keyring (one JSON array)
//	team/<id>                         core.Team
//	team_sub/<subdomain>              team id; unique, lower-cased, absent when empty
//	user/<id>                         core.User, with Email lower-cased
//	user_email/<email>                user id; unique, lower-cased, absent when empty
//	mem/<id>                          core.Membership
//	mem_team/<team id>/<id>           list entry
//	mem_user/<user id>/<team id>      membership id; unique: one per user per team
//	mem_invite/<hex of token hash>    membership id; unique, absent when the hash is zero
//	key/<id>                          core.APIKey
//	key_hash/<hex of hash>            API key id; unique, absent when the hash is zero
//	key_team/<team id>/<id>           list entry
//	space/<id>                        core.Teamspace
//	space_team/<team id>/<id>         list entry
//	space_name/<team id>/<name>       teamspace id; unique per team, name lower-cased (since schema 2)
//	sess/<id>                         core.Session
//	sess_user/<user id>/<id>          list entry
//	ev/<team id>/<event id>           core.Event; ULIDs make key order time order
//	ev/_system/<event id>             core.Event without a team (core.SystemEvents), e.g. a
//	                                  failed login for an unknown email
//	blk/<team id>/<32-byte address>   core.BlockEntry in a binary codec (block.go)
//	bcv/<team id>/<32-byte address>/<8-byte big-endian offset>
//	                                  core.Block.CVs of that block at that file offset,
//	                                  32 bytes each, concatenated (blockcv.go): the server's
//	                                  own, saved at finalize, reused by parts by reference;
//	                                  removed with the block's blk/ entry
//	pkg/<id>                          core.Package
//	pkg_team/<team id>/<id>           list entry
//	file/<id>                         core.File; once finalized its PartsID names the upload
//	                                  whose parts hold its block references (a file finalized
//	                                  before that holds them in its Blocks)
//	file_pkg/<package id>/<id>        list entry
//	part/<upload id>/<nnnnn>          core.Part, the part number in 5 digits so that a prefix
//	                                  scan lists an upload's parts in order (ListParts); its
//	                                  Blocks hold block references until the upload is
//	                                  aborted, the file deleted or the package deleted (they
//	                                  are released); the parts listed at finalize stay as the
//	                                  file's block lists (File.PartsID), the others are released
//	link/<id>                         core.Link
//	link_pkg/<package id>/<id>        list entry
//	act/<id>                          core.Activity (uploads, links, downloads)
//	act_team/<team id>/<id>           list entry; ULIDs make key order time order
//	dl/<activity id>/<id>             core.DownloadRecord: one file or zip request of a download
//	portal/<id>                       core.Portal
//	portal_team/<team id>/<id>        list entry
//	portal_sub/<subdomain>            portal id; unique across the appliance (a host name)
//	asset/<id>                        core.Asset: a portal's logo or background image (≤ 2 MiB)
//	form/<id>                         core.Form: a portal's metadata form
//	formresp/<id>                     core.FormResponse: a sender's answers, with the form as answered
//	out/<id>                          core.OutboxItem: a mail waiting to go out, sent or given up
//	out_team/<team id>/<id>           list entry
//	out_due/<16 hex digits of due Unix ns>/<id>
//	                                  list entry while pending: key order is due order
//	pwreset/<hex of token hash>       core.PasswordReset: a single-use reset link's record
//	hook/<id>                         core.Webhook (with its signing secret)
//	hook_team/<team id>/<id>          list entry
//	hook_try/<webhook id>/<id>        core.WebhookAttempt: one try of one delivery (ULIDs: time order)
//
// The schema version is the number of migrations applied to a data
// directory, stored under sys/schema; SchemaVersion is the number this
// binary knows. A migration is one numbered step of the layout, run once, in
// order, at Open, in one Badger transaction that also records its version.
// Migrations are only ever appended: a released one is never edited,
// renumbered or removed. Open refuses a directory whose schema version is
// newer than SchemaVersion, because this binary would misread it.
//
// A conflict is Badger's ErrConflict: another transaction committed a key
// this one read after it started. Update runs its function again, a bounded
// number of times, and reports core.Conflict when the attempts run out.
package meta
