package core

// Action is something a principal may do inside a team. Every permission
// check in haul names an Action and goes through Allowed, so the whole
// policy is the one table below.
type Action string

const (
	ActTeamRead          Action = "team.read"
	ActTeamUpdate        Action = "team.update"
	ActTeamTransferOwner Action = "team.transfer_ownership"
	ActMemberList        Action = "member.list"
	ActMemberAdd         Action = "member.add"
	ActMemberUpdateRole  Action = "member.update_role"
	ActMemberRemove      Action = "member.remove"
	// ActAPIKeyOwn covers creating, listing, changing and deleting one's
	// own API keys.
	ActAPIKeyOwn Action = "api_key.own"
	// ActAPIKeyAny covers listing, changing and deleting anyone's keys.
	ActAPIKeyAny       Action = "api_key.any"
	ActTeamspaceRead   Action = "teamspace.read"     // the teamspaces one belongs to
	ActTeamspaceAll    Action = "teamspace.read_all" // every teamspace of the team
	ActTeamspaceManage Action = "teamspace.manage"   // create, update, delete, members
	ActEventList       Action = "event.list"
	// ActSystemStorage reads the appliance's storage figures; granted to
	// anyone holding an allowed role in at least one team.
	ActSystemStorage Action = "system.storage"
	// ActPackageCreate makes team packages (and so uploads).
	ActPackageCreate Action = "package.create"
	// ActPackageReadAny reads (and gets the token of) every package of the
	// team; without it a user reads only the packages they created. Both
	// rules are in canReadPackage.
	ActPackageReadAny Action = "package.read_any"
	// ActTeamBlockKey reads the team's block key and uses resume by
	// content (known blocks, parts by reference): it lets one probe which
	// blocks the team stores.
	ActTeamBlockKey Action = "team.block_key"
	// ActActivityList reads the team's transfer activities (uploads,
	// links, downloads) and their download records.
	ActActivityList Action = "activity.list"
	// ActPortalManage creates, reads, changes and deletes portals and
	// their forms and branding.
	ActPortalManage Action = "portal.manage"
	// ActWebhookManage creates, reads, changes and deletes custom webhooks
	// and reads their delivery logs.
	ActWebhookManage Action = "webhook.manage"
)

var (
	everyone    = []Role{RoleOwner, RoleAdmin, RoleIntegrationManager, RoleMember, RoleGuest}
	staff       = []Role{RoleOwner, RoleAdmin, RoleIntegrationManager, RoleMember}
	managers    = []Role{RoleOwner, RoleAdmin}
	integrators = []Role{RoleOwner, RoleAdmin, RoleIntegrationManager}
	ownerOnly   = []Role{RoleOwner}
)

// permissions is the role × action table (MASV's roles, §1.5 of the API
// reference): owner and admins run the team, integration managers make
// API keys, members and guests use what they are given.
var permissions = map[Action][]Role{
	ActTeamRead:          everyone,
	ActTeamUpdate:        managers,
	ActTeamTransferOwner: ownerOnly,
	ActMemberList:        staff,
	ActMemberAdd:         managers,
	ActMemberUpdateRole:  managers,
	ActMemberRemove:      managers,
	ActAPIKeyOwn:         integrators,
	ActAPIKeyAny:         ownerOnly,
	ActTeamspaceRead:     staff,
	ActTeamspaceAll:      managers,
	ActTeamspaceManage:   managers,
	ActEventList:         managers,
	ActSystemStorage:     managers,
	ActPackageCreate:     staff,
	ActPackageReadAny:    managers,
	ActTeamBlockKey:      staff,
	ActActivityList:      managers,
	ActPortalManage:      managers,
	ActWebhookManage:     integrators,
}

// describe says in words what an action is, for error messages.
var describe = map[Action]string{
	ActTeamRead:          "reading this team",
	ActTeamUpdate:        "changing team settings",
	ActTeamTransferOwner: "transferring ownership",
	ActMemberList:        "listing members",
	ActMemberAdd:         "adding members",
	ActMemberUpdateRole:  "changing members' roles",
	ActMemberRemove:      "removing members",
	ActAPIKeyOwn:         "managing API keys",
	ActAPIKeyAny:         "managing other people's API keys",
	ActTeamspaceRead:     "reading teamspaces",
	ActTeamspaceAll:      "reading every teamspace",
	ActTeamspaceManage:   "managing teamspaces",
	ActEventList:         "reading the team's events",
	ActSystemStorage:     "reading the appliance's storage figures",
	ActPackageCreate:     "creating packages",
	ActPackageReadAny:    "reading other people's packages",
	ActTeamBlockKey:      "reading the team's block key (resume by content)",
	ActActivityList:      "reading the team's transfer activities",
	ActPortalManage:      "managing portals",
	ActWebhookManage:     "managing webhooks",
}

// String describes the action in words.
func (a Action) String() string {
	if d, ok := describe[a]; ok {
		return d
	}
	return string(a)
}

// Allowed reports whether role may perform act.
func Allowed(role Role, act Action) bool {
	for _, r := range permissions[act] {
		if r == role {
			return true
		}
	}
	return false
}

// Actions lists every action of the table, for documentation and tests.
func Actions() []Action {
	out := make([]Action, 0, len(permissions))
	for a := range permissions {
		out = append(out, a)
	}
	return out
}
