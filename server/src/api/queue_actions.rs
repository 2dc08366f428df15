//! `POST /api/queues/{name}/delete|purge|move`: the queue browser's
//! actions, from a JSON body or form and query parameters, each with
//! `dry_run`. Deleting, moving and purging by a query ask for the operator
//! role (`auth::policy`); purging a whole queue asks for admin, checked
//! here because the path is the same. The audit trail records each with
//! its parameters and its answer (counts first).

use app::wire::queues::{QueueActionAnswer, QueueActionRequest};
use axum::{Extension, Json, extract::State, http::StatusCode};

use super::{
    AppState,
    error::ApiError,
    extract::Path,
    params::Params,
    queue_browser::{broker_error, queue_name, wire_message},
    redaction::Redaction,
};
use crate::{
    auth::{Principal, Role},
    broker::{
        actions::{Act, ActionError, Done, Selection},
        queue_query::Query,
    },
};

/// The request, from a JSON body (strictly) or form and query parameters.
fn request(params: &Params) -> Result<QueueActionRequest, ApiError> {
    if let Some(body) = params.json_body() {
        return serde_json::from_str(body.get())
            .map_err(|e| ApiError::Invalid(format!("the JSON body: {e}")));
    }
    let text = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(QueueActionRequest {
        q: text("q"),
        id: text("id"),
        delivery_tag: text("delivery_tag"),
        to: text("to"),
        dry_run: params.flag("dry_run")?,
    })
}

/// `POST /api/queues/{name}/delete|purge|move`.
pub async fn act(
    State(app): State<AppState>,
    principal: Option<Extension<Principal>>,
    redaction: Redaction,
    Path((name, action)): Path<(String, String)>,
    params: Params,
) -> Result<Json<QueueActionAnswer>, ApiError> {
    if !matches!(action.as_str(), "delete" | "purge" | "move") {
        return Err(ApiError::NotFound(format!("no queue action '{action}'")));
    }
    queue_name(&app, "name", &name).await?;
    let r = request(&params)?;
    let q = r.q.as_deref().filter(|q| !q.trim().is_empty());
    let query = q
        .map(Query::parse)
        .transpose()
        .map_err(|why| ApiError::bad("q", why))?;
    let one =
        r.id.as_ref()
            .filter(|i| !i.is_empty())
            .map(|id| Selection::One {
                id: id.clone(),
                delivery_tag: r.delivery_tag.clone().filter(|t| !t.is_empty()),
            });
    let selection = match (action.as_str(), one, query) {
        (_, Some(_), Some(_)) => {
            return Err(ApiError::Invalid(
                "give id (one message) or q (a search), not both".into(),
            ));
        }
        ("delete", Some(one), None) => one,
        ("delete", None, _) => {
            return Err(ApiError::bad(
                "id",
                "delete takes one message: give its task id",
            ));
        }
        ("purge", Some(_), None) => {
            return Err(ApiError::bad(
                "id",
                "purge takes q (or nothing: the whole queue); delete takes one message",
            ));
        }
        ("purge", None, Some(query)) => Selection::Matching(query),
        ("purge", None, None) => Selection::All,
        ("move", Some(one), None) => one,
        ("move", None, Some(query)) => Selection::Matching(query),
        _ => {
            return Err(ApiError::bad(
                "q",
                "move takes id (one message) or q (every match)",
            ));
        }
    };
    // Purging everything is the admin's; the guard let operators in.
    if selection == Selection::All
        && !principal
            .as_ref()
            .is_some_and(|Extension(p)| p.can(Role::Admin))
    {
        return Err(ApiError::Rejected {
            status: StatusCode::FORBIDDEN,
            why: "purging a whole queue needs the admin role; give q to purge only what matches"
                .into(),
        });
    }
    let to = match (action.as_str(), r.to.as_deref().filter(|t| !t.is_empty())) {
        ("move", None) => return Err(ApiError::bad("to", "move needs a destination queue")),
        ("move", Some(to)) if to == name => {
            return Err(ApiError::bad("to", "the destination is the queue itself"));
        }
        ("move", Some(to)) => {
            queue_name(&app, "to", to).await?;
            Some(to.to_string())
        }
        (_, Some(_)) => {
            return Err(ApiError::bad(
                "to",
                format!("{action} takes no destination"),
            ));
        }
        (_, None) => None,
    };
    let act = match &to {
        Some(to) => Act::Move(to),
        None => Act::Delete,
    };
    let done = app
        .queues
        .act(&name, &selection, act, r.dry_run)
        .await
        .map_err(|e| match e {
            ActionError::Redis(e) => broker_error("changing the queue", e),
            refused => ApiError::Refused(refused.to_string()),
        })?;
    let steps = app.queues.steps().to_vec();
    Ok(Json(QueueActionAnswer {
        message: words(&action, &name, to.as_deref(), r.dry_run, &done),
        action,
        queue: name,
        to,
        dry_run: r.dry_run,
        selected: done.selected,
        acted: done.acted,
        gone: done.gone,
        unmovable: done.unmovable,
        scanned: done.scanned,
        complete: done.complete,
        first: done
            .first
            .iter()
            .map(|w| wire_message(w, &steps, &redaction))
            .collect(),
    }))
}

/// What happened, in a sentence.
fn words(action: &str, queue: &str, to: Option<&str>, dry_run: bool, d: &Done) -> String {
    let n = |k: usize| match k {
        1 => "1 message".to_string(),
        k => format!("{k} messages"),
    };
    let verb = match (action, to) {
        ("move", Some(to)) => format!("moved from {queue} to {to}"),
        _ => format!("deleted from {queue}"),
    };
    let mut s = if dry_run {
        format!("{} would be {verb}", n(d.selected))
    } else {
        format!("{} {verb}", n(d.acted))
    };
    if d.unmovable > 0 {
        s.push_str(&format!(
            "; {} left in place: no properties.delivery_info to route them by",
            n(d.unmovable)
        ));
    }
    if d.gone > 0 {
        s.push_str(&format!("; {} taken by a worker first", n(d.gone)));
    }
    if !d.complete {
        s.push_str(&format!(
            "; looked at the first {} only: run it again for the rest",
            n(d.scanned)
        ));
    }
    s
}
