package client_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"haul/client"
	"haul/core"
	"haul/httpd"
	"haul/store/meta"
)

// server starts a real haul on loopback and returns its URL and team id.
func server(t *testing.T) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := core.LoadKeyring(ctx, db, time.Now())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	svc := core.NewService(core.Deps{Store: db, Keys: keys, PublicURL: url,
		Hasher: core.NewHasher(core.HashParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, 2)})
	boot, err := svc.Bootstrap(ctx, core.BootstrapRequest{TeamName: "Studio", OwnerEmail: "owner@studio.example", OwnerPassword: "owner-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- httpd.New(httpd.Deps{Service: svc, Config: httpd.Config{PublicURL: url}}).Serve(ctx, ln, 5*time.Second)
	}()
	t.Cleanup(func() { cancel(); <-done; db.Close() })
	return url, boot.TeamID
}

func TestClientControlPlane(t *testing.T) {
	ctx := context.Background()
	url, teamID := server(t)
	c := client.New(url)

	if _, err := c.Login(ctx, "owner@studio.example", "wrong-password"); client.StatusOf(err) != 401 {
		t.Fatalf("wrong password: err = %v, want a 401 *client.Error", err)
	}
	login, err := c.Login(ctx, "owner@studio.example", "owner-password-1")
	if err != nil || len(login.Teams) != 1 || login.Teams[0].ID != teamID {
		t.Fatalf("login = %+v, %v", login, err)
	}
	key, err := c.CreateAPIKey(ctx, teamID, "automation", time.Time{})
	if err != nil || key.Key == "" || !key.Expiry.IsZero() {
		t.Fatalf("CreateAPIKey = %+v, %v", key, err)
	}
	auto := client.New(url)
	auto.APIKey = key.Key
	m, err := auto.AddMember(ctx, teamID, "editor@studio.example", "member")
	if err != nil || m.InvitationURL == "" || m.ID == m.UserID {
		t.Fatalf("AddMember = %+v, %v", m, err)
	}
	for i := range 3 {
		if _, err := auto.CreateTeamspace(ctx, teamID, fmt.Sprintf("space %d", i), []string{m.ID}); err != nil {
			t.Fatal(err)
		}
	}
	spaces, err := auto.Teamspaces(ctx, teamID)
	if err != nil || len(spaces) != 3 || len(spaces[0].Members) != 1 || spaces[0].Members[0].ID != m.ID {
		t.Fatalf("Teamspaces = %+v, %v", spaces, err)
	}
	if _, err := auto.APIKeys(ctx, teamID); client.StatusOf(err) != 403 {
		t.Fatalf("API key listing keys: err = %v, want 403", err)
	}
	if err := c.DeleteAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = auto.Teams(ctx)
	if e, ok := err.(*client.Error); !ok || e.Status != 401 || e.Msg == "" || e.RequestID == "" {
		t.Fatalf("deleted key: err = %#v, want a 401 with a message and request id", err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Teams(ctx); client.StatusOf(err) != 401 {
		t.Fatalf("after logout: err = %v, want 401", err)
	}
}
