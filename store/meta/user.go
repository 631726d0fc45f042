package meta

import (
	"strings"

	"haul/core"
)

func (t *tx) User(id string) (*core.User, error) {
	return get[core.User](t, "meta.User", "user", key("user", id))
}

// UserByEmail finds a user by email, whatever its case.
func (t *tx) UserByEmail(email string) (*core.User, error) {
	return byIndex[core.User](t, "meta.UserByEmail", "user",
		key("user_email", strings.ToLower(email)), "user")
}

// PutUser creates or replaces a user, storing a lower-cased copy of its
// email; u itself is not changed.
func (t *tx) PutUser(u *core.User) error {
	const op = "meta.PutUser"
	if err := checkID(op, "id", u.ID); err != nil {
		return err
	}
	c := *u
	c.Email = strings.ToLower(c.Email)
	old, err := prev[core.User](t, op, key("user", c.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("user", c.ID), &c, c.ID, userEntries(old), userEntries(&c))
}

func (t *tx) Users(fn func(*core.User) bool) error {
	return each(t, "meta.Users", prefix("user"), fn)
}

func (t *tx) CountUsers() (int, error) {
	return t.count(prefix("user")), nil
}

func userEntries(u *core.User) []entry {
	if u == nil || u.Email == "" {
		return nil
	}
	return []entry{{
		key:   key("user_email", strings.ToLower(u.Email)),
		val:   u.ID,
		taken: "email is already in use",
	}}
}
