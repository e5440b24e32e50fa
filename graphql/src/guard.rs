//! The role guard: every root field of a document is checked against the one role table
//! ([`commands::access`]) before the document is validated or run, for queries, mutations and
//! subscriptions alike (HTTP and websocket requests pass through the same
//! [`crate::executor::GuardedSchema`]).
//!
//! Reads are checked here by class ([`Read`]); a field the table does not know is refused
//! (a new root field has no role until it is added to [`read_class`]). Mutations are checked
//! here only for "may this caller send commands at all" (a read-only role may not run a
//! mutation document), and precisely by the command bus, which consults the same table with
//! the command actually sent, whatever the transport. Which tenants' rows come back is the
//! other half of the rule: the tenant filters of the resolvers and the bus.
//!
//! Only the operation that will run is checked; root-level fragments are followed without
//! recursion (a fragment cycle is then reported by validation).

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value, Variables};
use commands::access::{self, Operation, Read, Role};
use commands::RequestContext;

use crate::error::ApiError;

/// Arguments that turn a read into a read of history.
const HISTORY_ARGUMENTS: [&str; 2] = ["asOf", "atVersion"];

/// The read class of a query or subscription root field; `None` for a field the table does
/// not know (refused).
pub fn read_class(operation: OperationType, field: &str, history_arguments: bool) -> Option<Read> {
    let class = match (operation, field) {
        (OperationType::Query, "aggregateHistory" | "trace" | "auditLog" | "causalChain" | "runtimeDiff") => {
            Read::History
        }
        (OperationType::Subscription, "logEvents" | "events") => Read::History,
        (OperationType::Query, "parkedEvents" | "rejectedCommands") => Read::Integration,
        (OperationType::Subscription, "healthChanged" | "driftDetected" | "deploymentProgress") => Read::Tenant,
        (
            OperationType::Query,
            "environment" | "environments" | "service" | "serviceCatalog" | "runtimeInventory" | "projections"
            | "workers" | "logHorizon",
        ) => Read::Catalog,
        (
            OperationType::Query,
            "deployment" | "configuration" | "secretBinding" | "tenantBinding" | "scalingPolicy" | "health"
            | "driftFinding" | "driftFindings" | "driftCounts" | "healthStatus" | "deployments",
        ) => Read::Tenant,
        _ => return None,
    };
    // Time travel is history, whichever model it reads.
    Some(if history_arguments { Read::History } else { class })
}

/// The roles that may send at least one command: the only ones that may run a mutation.
fn may_mutate(roles: &std::collections::BTreeSet<Role>) -> bool {
    roles.iter().any(|r| *r != Role::GovernanceAuditor)
}

/// The root fields the schema has, per operation type: a field it does not have is left for
/// validation to refuse (with the usual message), one it has but the table does not know is
/// refused here.
#[derive(Debug, Clone, Default)]
pub struct RootFields {
    fields: HashSet<(u8, String)>,
    /// Whether `__schema` and `__type` answer.
    pub introspection: bool,
}

impl RootFields {
    /// The root fields of the schema whose SDL is `sdl`.
    pub fn from_sdl(sdl: &str) -> Self {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let mut fields = HashSet::new();
        if let Ok(doc) = async_graphql::parser::parse_schema(sdl) {
            for definition in doc.definitions {
                let TypeSystemDefinition::Type(ty) = definition else { continue };
                let operation = match ty.node.name.node.as_str() {
                    "QueryRoot" => OperationType::Query,
                    "MutationRoot" => OperationType::Mutation,
                    "SubscriptionRoot" => OperationType::Subscription,
                    _ => continue,
                };
                if let TypeKind::Object(object) = &ty.node.kind {
                    for field in &object.fields {
                        fields.insert((kind(operation), field.node.name.node.to_string()));
                    }
                }
            }
        }
        Self { fields, introspection: true }
    }

    /// Whether the schema has `field` at the root of `operation`.
    pub fn contains(&self, operation: OperationType, field: &str) -> bool {
        self.fields.contains(&(kind(operation), field.to_owned()))
    }

    /// Every root field, for tests that walk the schema.
    pub fn iter(&self) -> impl Iterator<Item = (OperationType, &str)> {
        self.fields.iter().map(|(k, f)| {
            let op = match k {
                0 => OperationType::Query,
                1 => OperationType::Mutation,
                _ => OperationType::Subscription,
            };
            (op, f.as_str())
        })
    }
}

fn kind(operation: OperationType) -> u8 {
    match operation {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

/// Checks every root field of the operation `operation_name` picks in `document` against the
/// caller's roles.
pub fn check(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    ctx: &RequestContext,
    schema: &RootFields,
) -> Result<(), ApiError> {
    for operation in selected_operations(document, operation_name) {
        let (operation_type, selection_set) = (operation.ty, &operation.selection_set);
        // The values the operation will run with: the request's variables over the
        // definitions' defaults (a default `asOf` is time travel too).
        let mut effective = variables.clone();
        for definition in &operation.variable_definitions {
            let name = &definition.node.name.node;
            if !effective.contains_key(name) {
                if let Some(default) = &definition.node.default_value {
                    effective.insert(name.clone(), default.node.clone());
                }
            }
        }
        let variables = &effective;
        for field in root_fields(document, selection_set) {
            let name = field.node.name.node.as_str();
            if matches!(name, "__schema" | "__type") && !schema.introspection {
                // async-graphql would answer null without saying why.
                return Err(ApiError::Refused {
                    code: "GRAPHQL_VALIDATION_FAILED",
                    message: "introspection is switched off on this server".into(),
                });
            }
            if name.starts_with("__") || !schema.contains(operation_type, name) {
                // `__typename` and introspection (switched on or off in the schema); fields the
                // schema does not have are refused by validation.
                continue;
            }
            if operation_type == OperationType::Mutation {
                if !may_mutate(&ctx.roles) {
                    return Err(ApiError::Forbidden(format!("{} may not run mutations", describe(ctx))));
                }
                continue;
            }
            let history = HISTORY_ARGUMENTS.iter().any(|arg| argument_given(&field.node, arg, variables));
            authorize_read(ctx, operation_type, name, history)?;
        }
    }
    Ok(())
}

/// Whether `ctx`'s caller may read the root field `field` of `operation` (`history`: with a
/// time-travel argument), by its read class in the role table. Transports other than GraphQL
/// that serve the same data (`GET /audit/export` serves `auditLog`) ask here with the field
/// they stand for, so the answer is the query's by construction.
pub fn authorize_read(
    ctx: &RequestContext,
    operation: OperationType,
    field: &str,
    history: bool,
) -> Result<(), ApiError> {
    let Some(class) = read_class(operation, field, history) else {
        return Err(ApiError::Forbidden(format!("{field} is not open to any role")));
    };
    if access::acting_role(&ctx.roles, Operation::Read(class)).is_none() {
        let what = match class {
            Read::History => {
                "history (asOf, atVersion, aggregateHistory, trace, auditLog, causalChain, runtimeDiff, events, logEvents)"
            }
            Read::Catalog | Read::Tenant | Read::Integration => field,
        };
        return Err(ApiError::Forbidden(format!("{} may not read {what}", describe(ctx))));
    }
    Ok(())
}

fn describe(ctx: &RequestContext) -> String {
    if ctx.roles.is_empty() {
        return "a caller with no role".to_owned();
    }
    let names: Vec<&str> = ctx.roles.iter().map(|r| r.as_str()).collect();
    format!("role {}", names.join(", "))
}

/// The operations that will run: the named one, the only one, or (when the choice is
/// ambiguous and execution will refuse it anyway) all of them.
fn selected_operations<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Vec<&'a OperationDefinition> {
    let all: Vec<_> = document.operations.iter().map(|(_, op)| &op.node).collect();
    match (&document.operations, operation_name) {
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => vec![&op.node],
            None => all,
        },
        _ => all,
    }
}

/// The fields at the root of `selection_set`, following fragments (each at most once).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selection_set: &'a Positioned<SelectionSet>,
) -> Vec<&'a Positioned<async_graphql::parser::types::Field>> {
    let mut fields = Vec::new();
    let mut pending: Vec<&SelectionSet> = vec![&selection_set.node];
    let mut seen: HashSet<&Name> = HashSet::new();
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields.push(field),
                Selection::InlineFragment(fragment) => pending.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if seen.insert(name) {
                        if let Some(fragment) = document.fragments.get(name) {
                            pending.push(&fragment.node.selection_set.node);
                        }
                    }
                }
            }
        }
    }
    fields
}

/// Whether `field` is given a non-null `argument` (literally or through a variable).
fn argument_given(field: &async_graphql::parser::types::Field, argument: &str, variables: &Variables) -> bool {
    field.get_argument(argument).is_some_and(|value| {
        // Substitutes variables; a variable not given counts as absent.
        let value = value.node.clone().into_const_with(|name| variables.get(&name).cloned().ok_or(()));
        !matches!(value, Ok(Value::Null) | Err(()))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use commands::TenantScope;
    use domain::envelope::{Actor, TraceId};

    use super::*;

    fn ctx(roles: &[Role]) -> RequestContext {
        RequestContext {
            actor: Actor::parse("user:a").unwrap(),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
            tenant_scope: TenantScope::All,
            tenant: None,
            trace_id: TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        }
    }

    fn run(doc: &str, variables: serde_json::Value, roles: &[Role]) -> Result<(), ApiError> {
        let document = async_graphql::parser::parse_query(doc).unwrap();
        let mut schema = RootFields::from_sdl(&crate::sdl());
        schema.fields.insert((0, "dropEverything".into()));
        check(&document, None, &Variables::from_json(variables), &ctx(roles), &schema)
    }

    #[test]
    fn every_query_and_subscription_field_of_the_schema_has_a_read_class() {
        let schema = RootFields::from_sdl(&crate::sdl());
        assert!(schema.iter().count() > 60, "the SDL was read");
        for (operation, field) in schema.iter() {
            if operation != OperationType::Mutation {
                assert!(read_class(operation, field, false).is_some(), "{operation:?} {field} has no read class");
            }
        }
    }

    #[test]
    fn history_needs_a_history_role_also_through_fragments_and_variables() {
        let cp = [Role::ControlPlane];
        assert!(run("{ environments { edges { cursor } } }", serde_json::json!({}), &cp).is_ok());
        assert!(run("{ auditLog { edges { cursor } } }", serde_json::json!({}), &cp).is_err());
        assert!(run(
            "{ ...F } fragment F on QueryRoot { trace(traceId: \"x\") { edges { cursor } } }",
            serde_json::json!({}),
            &cp
        )
        .is_err());
        let as_of = "query($t: DateTime) { environment(id: \"x\", asOf: $t) { id } }";
        assert!(run(as_of, serde_json::json!({ "t": null }), &cp).is_ok());
        assert!(run(as_of, serde_json::json!({ "t": "2026-01-01T00:00:00Z" }), &cp).is_err());
        assert!(run(as_of, serde_json::json!({ "t": "2026-01-01T00:00:00Z" }), &[Role::GovernanceAuditor]).is_ok());
        let by_default =
            "query($t: DateTime = \"2020-01-01T00:00:00Z\") { runtimeInventory(asOf: $t) { edges { cursor } } }";
        assert!(run(by_default, serde_json::json!({}), &cp).is_err(), "a default value is time travel too");
        assert!(run(by_default, serde_json::json!({ "t": null }), &cp).is_ok(), "an explicit null is not");
    }

    #[test]
    fn read_only_roles_run_no_mutation_and_no_role_reads_nothing() {
        let m = "mutation { resolveDrift(id: \"x\") { version } }";
        assert!(matches!(run(m, serde_json::json!({}), &[Role::GovernanceAuditor]), Err(ApiError::Forbidden(_))));
        assert!(run(m, serde_json::json!({}), &[Role::TenantOperator]).is_ok());
        assert!(run("{ environments { edges { cursor } } }", serde_json::json!({}), &[]).is_err());
        assert!(run("{ __typename }", serde_json::json!({}), &[]).is_ok());
    }

    #[test]
    fn fields_the_table_does_not_know_are_refused_and_fragment_cycles_end() {
        assert!(run("{ dropEverything }", serde_json::json!({}), &[Role::PlatformAdmin]).is_err());
        assert!(run("{ notInTheSchema }", serde_json::json!({}), &[Role::PlatformAdmin]).is_ok(), "validation's job");
        let cycle = "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A projections { name } }";
        assert!(run(cycle, serde_json::json!({}), &[Role::PlatformAdmin]).is_ok());
    }
}
