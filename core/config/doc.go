// Package config holds haul's server configuration: one typed struct, its
// defaults, loading from a TOML file and the environment, and validation.
//
// The words used here:
//
//   - A Section is a TOML table such as [server] or [storage.s3]. Each is a
//     nested struct of Config.
//   - A Key is a dotted path to one setting, such as "server.listen" or
//     "storage.s3.endpoint". Keys are the struct fields' toml tags joined
//     with dots; they are the names used in error messages.
//   - An environment variable for a key is "HAUL_" followed by the key
//     upper-cased with dots turned into underscores:
//     "storage.s3.endpoint" is HAUL_STORAGE_S3_ENDPOINT. Lists are
//     comma-separated. HAUL_AGENT_* belongs to the upload agent and is never
//     read here.
//   - A Size is a number of bytes written with a unit ("4MiB", "100MB"); a
//     Rate is a Size per second ("50MB/s"); a Duration is written the way
//     time.ParseDuration reads it ("30s", "72h").
//
// Precedence, lowest first: Default, then the file, then the environment,
// then whatever command-line flags main applies before calling Validate
// again. Every key is optional. Keys are discovered by reflection over the
// toml tags, so adding a field with a tag and a default is all a new key
// needs: the file decoder, the environment overrides and the tests that keep
// config.example.toml complete all pick it up.
//
// Nothing here is global: main calls Load once and passes the sections on to
// the constructors that need them.
package config
