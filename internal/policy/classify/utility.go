package classify

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// utilityInfo describes a statement type that needs no handler of its own: its command tag,
// class, the table lock it takes, and what the relations it names undergo.
type utilityInfo struct {
	tag    func(proto.Message) string
	class  Class
	lock   Lock
	action Action
}

func fixed(tag string) func(proto.Message) string {
	return func(proto.Message) string { return tag }
}

func ddl(tag string) utilityInfo {
	return utilityInfo{tag: fixed(tag), class: ClassDDL, action: ActDDL}
}

func role(tag string) utilityInfo {
	return utilityInfo{tag: fixed(tag), class: ClassRole, action: ActDDL}
}

func misc(tag string) utilityInfo {
	return utilityInfo{tag: fixed(tag), class: ClassMisc, action: ActSelect}
}

func maintenance(tag string) utilityInfo {
	return utilityInfo{tag: fixed(tag), class: ClassMisc, lock: LockAccessExclusive, action: ActMaintenance}
}

// alterOf tags ALTER statements by the object type they carry.
func alterOf(get func(proto.Message) pg.ObjectType, class Class) utilityInfo {
	return utilityInfo{tag: func(m proto.Message) string { return "ALTER " + objectTypeWords(get(m)) }, class: class, action: ActDDL}
}

var utilities = map[protoreflect.Name]utilityInfo{
	"CreateSchemaStmt":             ddl("CREATE SCHEMA"),
	"AlterCollationStmt":           ddl("ALTER COLLATION"),
	"AlterDomainStmt":              ddl("ALTER DOMAIN"),
	"DropTableSpaceStmt":           ddl("DROP TABLESPACE"),
	"AlterTableSpaceOptionsStmt":   ddl("ALTER TABLESPACE"),
	"AlterTableMoveAllStmt":        {tag: fixed("ALTER TABLE"), class: ClassDDL, lock: LockAccessExclusive, action: ActDDL},
	"CreateExtensionStmt":          ddl("CREATE EXTENSION"),
	"AlterExtensionStmt":           ddl("ALTER EXTENSION"),
	"AlterExtensionContentsStmt":   ddl("ALTER EXTENSION"),
	"CreateFdwStmt":                ddl("CREATE FOREIGN DATA WRAPPER"),
	"AlterFdwStmt":                 ddl("ALTER FOREIGN DATA WRAPPER"),
	"CreateForeignServerStmt":      ddl("CREATE SERVER"),
	"AlterForeignServerStmt":       ddl("ALTER SERVER"),
	"CreateForeignTableStmt":       ddl("CREATE FOREIGN TABLE"),
	"CreateUserMappingStmt":        ddl("CREATE USER MAPPING"),
	"AlterUserMappingStmt":         ddl("ALTER USER MAPPING"),
	"DropUserMappingStmt":          ddl("DROP USER MAPPING"),
	"ImportForeignSchemaStmt":      ddl("IMPORT FOREIGN SCHEMA"),
	"CreatePolicyStmt":             ddl("CREATE POLICY"),
	"AlterPolicyStmt":              ddl("ALTER POLICY"),
	"CreateAmStmt":                 ddl("CREATE ACCESS METHOD"),
	"AlterEventTrigStmt":           ddl("ALTER EVENT TRIGGER"),
	"CreatePLangStmt":              ddl("CREATE LANGUAGE"),
	"CreateSeqStmt":                ddl("CREATE SEQUENCE"),
	"AlterSeqStmt":                 ddl("ALTER SEQUENCE"),
	"CreateDomainStmt":             ddl("CREATE DOMAIN"),
	"CreateOpClassStmt":            ddl("CREATE OPERATOR CLASS"),
	"CreateOpFamilyStmt":           ddl("CREATE OPERATOR FAMILY"),
	"AlterOpFamilyStmt":            ddl("ALTER OPERATOR FAMILY"),
	"CommentStmt":                  ddl("COMMENT"),
	"SecLabelStmt":                 ddl("SECURITY LABEL"),
	"CreateStatsStmt":              ddl("CREATE STATISTICS"),
	"AlterStatsStmt":               ddl("ALTER STATISTICS"),
	"AlterOperatorStmt":            ddl("ALTER OPERATOR"),
	"AlterTypeStmt":                ddl("ALTER TYPE"),
	"CompositeTypeStmt":            ddl("CREATE TYPE"),
	"CreateEnumStmt":               ddl("CREATE TYPE"),
	"CreateRangeStmt":              ddl("CREATE TYPE"),
	"AlterEnumStmt":                ddl("ALTER TYPE"),
	"ViewStmt":                     ddl("CREATE VIEW"),
	"CreatedbStmt":                 ddl("CREATE DATABASE"),
	"AlterDatabaseStmt":            ddl("ALTER DATABASE"),
	"AlterDatabaseRefreshCollStmt": ddl("ALTER DATABASE"),
	"DropdbStmt":                   ddl("DROP DATABASE"),
	"CreateConversionStmt":         ddl("CREATE CONVERSION"),
	"CreateCastStmt":               ddl("CREATE CAST"),
	"CreateTransformStmt":          ddl("CREATE TRANSFORM"),
	"AlterTSDictionaryStmt":        ddl("ALTER TEXT SEARCH DICTIONARY"),
	"AlterTSConfigurationStmt":     ddl("ALTER TEXT SEARCH CONFIGURATION"),
	"CreatePublicationStmt":        ddl("CREATE PUBLICATION"),
	"AlterPublicationStmt":         ddl("ALTER PUBLICATION"),
	"CreateSubscriptionStmt":       ddl("CREATE SUBSCRIPTION"),
	"AlterSubscriptionStmt":        ddl("ALTER SUBSCRIPTION"),
	"DropSubscriptionStmt":         ddl("DROP SUBSCRIPTION"),
	"RefreshMatViewStmt": {tag: fixed("REFRESH MATERIALIZED VIEW"), class: ClassDDL, action: ActDDL,
		lock: LockAccessExclusive},
	"DefineStmt": {tag: func(m proto.Message) string {
		return "CREATE " + objectTypeWords(m.(*pg.DefineStmt).GetKind())
	}, class: ClassDDL, action: ActDDL},
	"AlterFunctionStmt": alterOf(func(m proto.Message) pg.ObjectType { return m.(*pg.AlterFunctionStmt).GetObjtype() }, ClassDDL),
	"AlterObjectDependsStmt": alterOf(func(m proto.Message) pg.ObjectType {
		return m.(*pg.AlterObjectDependsStmt).GetObjectType()
	}, ClassDDL),
	"AlterObjectSchemaStmt": alterOf(func(m proto.Message) pg.ObjectType {
		return m.(*pg.AlterObjectSchemaStmt).GetObjectType()
	}, ClassDDL),
	// Changing an owner hands over every privilege on the object.
	"AlterOwnerStmt": alterOf(func(m proto.Message) pg.ObjectType { return m.(*pg.AlterOwnerStmt).GetObjectType() }, ClassRole),

	"GrantStmt": {tag: func(m proto.Message) string {
		if m.(*pg.GrantStmt).GetIsGrant() {
			return "GRANT"
		}
		return "REVOKE"
	}, class: ClassRole, action: ActDDL},
	"GrantRoleStmt": {tag: func(m proto.Message) string {
		if m.(*pg.GrantRoleStmt).GetIsGrant() {
			return "GRANT ROLE"
		}
		return "REVOKE ROLE"
	}, class: ClassRole, action: ActDDL},
	"AlterDefaultPrivilegesStmt": role("ALTER DEFAULT PRIVILEGES"),
	"CreateRoleStmt": {tag: func(m proto.Message) string {
		switch m.(*pg.CreateRoleStmt).GetStmtType() {
		case pg.RoleStmtType_ROLESTMT_USER:
			return "CREATE USER"
		case pg.RoleStmtType_ROLESTMT_GROUP:
			return "CREATE GROUP"
		}
		return "CREATE ROLE"
	}, class: ClassRole, action: ActDDL},
	"AlterRoleStmt":     role("ALTER ROLE"),
	"DropRoleStmt":      role("DROP ROLE"),
	"DropOwnedStmt":     role("DROP OWNED"),
	"ReassignOwnedStmt": role("REASSIGN OWNED"),

	"VariableShowStmt": misc("SHOW"),
	"ClosePortalStmt":  misc("CLOSE CURSOR"),
	"FetchStmt": {tag: func(m proto.Message) string {
		if m.(*pg.FetchStmt).GetIsmove() {
			return "MOVE"
		}
		return "FETCH"
	}, class: ClassMisc, action: ActSelect},
	"NotifyStmt":         misc("NOTIFY"),
	"ListenStmt":         misc("LISTEN"),
	"UnlistenStmt":       misc("UNLISTEN"),
	"LoadStmt":           misc("LOAD"),
	"CheckPointStmt":     misc("CHECKPOINT"),
	"ConstraintsSetStmt": misc("SET CONSTRAINTS"),
	"ExecuteStmt":        misc("EXECUTE"),
	"DeallocateStmt":     misc("DEALLOCATE"),
	"ClusterStmt":        maintenance("CLUSTER"),
	"ReindexStmt":        maintenance("REINDEX"),
}

// utility handles the statement types of the table above.
func (w *walker) utility(msg proto.Message) bool {
	info, ok := utilities[msg.ProtoReflect().Descriptor().Name()]
	if !ok {
		return false
	}
	w.command(info.tag(msg), info.class)
	w.lock(info.lock)
	w.childrenUnder(info.action, msg)
	return true
}
