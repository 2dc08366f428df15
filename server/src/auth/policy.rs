//! Which role each route asks for: one table, so that no endpoint is
//! forgotten. Reading asks for no role (the guard decides who may read at
//! all); every request that changes something names its role here, and a
//! `POST` to a path this table does not know asks for admin.

use axum::http::Method;

use super::Role;

/// The role a `method` on `path` (relative to `--url-prefix`) asks for;
/// `None`: anyone allowed in may.
pub fn needed(method: &Method, path: &str) -> Option<Role> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return match path {
            "/api/audit" | "/audit" => Some(Role::Admin),
            _ if path.starts_with("/api/audit/") => Some(Role::Admin),
            _ => None,
        };
    }
    let operator = ["/api/task/revoke/", "/api/task/retry/", "/api/task/abort/"];
    if operator.iter().any(|p| path.starts_with(p)) || path.starts_with("/api/tasks/") {
        return Some(Role::Operator);
    }
    // The queue browser's delete, move and purge by a query; purging a
    // whole queue (no query) is checked for admin by its handler.
    if path.starts_with("/api/queues/") {
        return Some(Role::Operator);
    }
    if path == "/logout" || path == "/login" || path.starts_with("/login/") {
        return None;
    }
    // Worker controls, rate and time limits, sending tasks, queue actions,
    // alert rules and webhooks (and their test), settings, and anything
    // added later until it says otherwise.
    Some(Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_asks_for_its_role() {
        let post = |p: &str| needed(&Method::POST, p);
        assert_eq!(needed(&Method::GET, "/api/tasks"), None);
        assert_eq!(needed(&Method::GET, "/tasks"), None);
        assert_eq!(needed(&Method::GET, "/api/audit"), Some(Role::Admin));
        assert_eq!(post("/api/task/revoke/x"), Some(Role::Operator));
        assert_eq!(post("/api/task/retry/x"), Some(Role::Operator));
        assert_eq!(post("/api/task/abort/x"), Some(Role::Operator));
        assert_eq!(post("/api/tasks/retry"), Some(Role::Operator));
        assert_eq!(post("/api/task/rate-limit/t"), Some(Role::Admin));
        assert_eq!(post("/api/task/timeout/t"), Some(Role::Admin));
        assert_eq!(post("/api/task/async-apply/t"), Some(Role::Admin));
        assert_eq!(post("/api/task/apply/t"), Some(Role::Admin));
        assert_eq!(post("/api/task/send-task/t"), Some(Role::Admin));
        assert_eq!(post("/api/worker/shutdown/w"), Some(Role::Admin));
        assert_eq!(post("/api/worker/pool/grow/w"), Some(Role::Admin));
        assert_eq!(post("/api/something/new"), Some(Role::Admin));
        assert_eq!(post("/logout"), None);
        assert_eq!(post("/api/queues/celery/delete"), Some(Role::Operator));
        assert_eq!(post("/api/queues/celery/move"), Some(Role::Operator));
        assert_eq!(post("/api/queues/celery/purge"), Some(Role::Operator));
        assert_eq!(needed(&Method::GET, "/api/queues/celery/messages"), None);
        assert_eq!(needed(&Method::DELETE, "/api/tasks"), Some(Role::Admin));
        // Alerts (issue 21): reading is open, editing is an admin's.
        assert_eq!(needed(&Method::GET, "/api/alerts"), None);
        assert_eq!(needed(&Method::GET, "/api/alerts/history"), None);
        assert_eq!(post("/api/alerts/rules"), Some(Role::Admin));
        assert_eq!(
            needed(&Method::PUT, "/api/alerts/rules/x"),
            Some(Role::Admin)
        );
        assert_eq!(
            needed(&Method::DELETE, "/api/alerts/webhooks/x"),
            Some(Role::Admin)
        );
        assert_eq!(post("/api/alerts/webhooks/x/test"), Some(Role::Admin));
    }
}
