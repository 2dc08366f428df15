//! Flower's write API as its documentation and its users call it, with
//! real workers: parameters in the query string, a form body (`curl -d`),
//! or a JSON body with or without a JSON content type
//! (`requests.post(url, data=json.dumps(...))` sends none).

use serde_json::{Value, json};

use crate::support::{cluster::Cluster, http::Http};

const RUN: std::time::Duration = std::time::Duration::from_secs(20);

/// What curl's `-d` sends.
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

async fn task_until(c: &Cluster, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    c.celadon
        .json_until(what, "/api/tasks", RUN, |tasks| done(&tasks[id]))
        .await[id]
        .clone()
}

/// Flower's README: `curl -X POST -d 'terminate=True' …/api/task/revoke/<id>`
/// kills the running task; a JSON body does too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_body_terminates_a_running_task_as_flowers_readme_says() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c.online_worker("form").await;
    for (content_type, body) in [(FORM, "terminate=True"), (None, r#"{"terminate": true}"#)] {
        let id = c.send("slow", "[30]", &[]);
        task_until(&c, &id, "the slow task to start", |t| {
            t["state"] == "STARTED"
        })
        .await;
        let (status, answer) = c
            .celadon
            .post_as(&format!("/api/task/revoke/{id}"), content_type, body)
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["message"],
            format!("Revoked '{id}'"),
            "Flower's words"
        );
        task_until(&c, &id, "the task to be terminated", |t| {
            t["state"] == "REVOKED" && t["terminated"] == true
        })
        .await;
    }
    c.celadon.stop().await.unwrap();
}

/// `curl -d '{"args": [2, 3]}'` (a form content type) and
/// `requests.post(url, data=json.dumps({...}))` (none) send the task with
/// its arguments; so does a JSON content type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_sent_with_their_arguments_whatever_the_content_type_says() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("send").await;
    let cases = [
        ("async-apply", FORM, r#"{"args": [2, 3]}"#, "5"),
        ("send-task", None, r#"{"args": [4, 5]}"#, "9"),
        (
            "async-apply",
            Some("application/json"),
            r#"{"kwargs": {"x": 1, "y": 6}}"#,
            "7",
        ),
    ];
    for (endpoint, content_type, body, result) in cases {
        let (status, answer) = c
            .celadon
            .post_as(
                &format!("/api/task/{endpoint}/celadon_tasks.add"),
                content_type,
                body,
            )
            .await;
        assert_eq!(status, 200, "{endpoint} {content_type:?}: {answer}");
        let id = answer["task-id"].as_str().unwrap().to_string();
        let done = task_until(&c, &id, "the sent task to run", |t| t["state"] == "SUCCESS").await;
        assert_eq!(done["result"], result, "{endpoint} {content_type:?} {body}");
    }

    // A worker command with its parameter in a JSON body.
    let (status, answer) = c
        .celadon
        .post_as(
            &format!("/api/worker/pool/grow/{name}"),
            Some("application/json"),
            r#"{"n": 1}"#,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        format!("Growing '{name}' worker's pool by 1")
    );

    // Flower's messages for what is missing or of the wrong type.
    let (status, answer) = c
        .celadon
        .post_as(&format!("/api/worker/queue/add-consumer/{name}"), FORM, "")
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &"Missing argument queue".into())
    );
    let (status, answer) = c
        .celadon
        .post_as(&format!("/api/worker/pool/grow/{name}"), FORM, "n=two")
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &"Invalid argument 'two' of type 'int'".into())
    );
    c.celadon.stop().await.unwrap();
}

/// `POST /api/task/abort/<id>`: an `AbortableTask` sees it and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abortable_task_stops_when_aborted_through_the_api() {
    let mut c = Cluster::start().await;
    let (_w, _name) = c.online_worker("abort").await;
    let id = c.send("abortable", "[30]", &[]);
    task_until(&c, &id, "the abortable task to start", |t| {
        t["state"] == "STARTED"
    })
    .await;
    let (status, answer) = c.celadon.post(&format!("/api/task/abort/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["message"], format!("Aborted '{id}'"));
    let done = task_until(&c, &id, "the task to stop", |t| t["state"] == "SUCCESS").await;
    assert_eq!(done["result"], "'aborted'");
    c.celadon.stop().await.unwrap();
}

/// `GET /workers?json=1`: Flower's Workers table, which its page polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_table_is_flowers_json() {
    let mut c = Cluster::start().await;
    let (_w, name) = c.online_worker("table").await;
    let table = c.celadon.json("/workers?json=1").await;
    let row = table["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["hostname"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} in {table}"))
        .clone();
    assert_eq!(row["status"], true, "{row}");
    assert!(
        row["worker-online"].as_u64().is_some_and(|n| n >= 1),
        "{row}"
    );
    assert!(
        row["heartbeats"].as_array().is_some_and(|h| !h.is_empty()),
        "{row}"
    );
    assert!(row["pid"].as_u64().is_some(), "{row}");
    let (status, page) = c.celadon.get("/workers").await;
    assert_eq!(status, 200);
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "the page itself is HTML"
    );
    c.celadon.stop().await.unwrap();
}

/// Where a write endpoint's parameters are: the query string (Flower's
/// docs' curl lines), a form body (`curl -d`), or JSON without a JSON
/// content type (`requests.post(url, data=json.dumps(...))`).
#[derive(Clone, Copy, Debug)]
enum Way {
    Query,
    Form,
    Json,
}

/// An endpoint, its parameters as text and as JSON, and what the answer
/// says.
type Case = (String, Vec<(&'static str, String)>, Value, String);

/// Every write endpoint that takes parameters, each way: the worker acts
/// and the answer is Flower's message (or the worker's reply, which
/// Flower passes on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_endpoint_takes_its_parameters_every_way_flower_documents() {
    // Replies are waited for until the one worker has answered: a long
    // timeout costs nothing, and a loaded machine's slow reply is no
    // failure.
    let mut c = Cluster::start_with(|config| config.inspect_timeout = RUN).await;
    let (_w, name) = c.online_worker("ways").await;
    for way in [Way::Query, Way::Form, Way::Json] {
        let queue = format!("extra-{way:?}").to_lowercase();
        // (path, parameters as text, as JSON, what the answer says)
        let cases: [Case; 6] = [
            (
                format!("/api/worker/pool/grow/{name}"),
                vec![("n", "2".into())],
                json!({"n": 2}),
                format!("Growing '{name}' worker's pool by 2"),
            ),
            (
                format!("/api/worker/pool/shrink/{name}"),
                vec![("n", "1".into())],
                json!({"n": 1}),
                format!("Shrinking '{name}' worker's pool by 1"),
            ),
            (
                format!("/api/worker/queue/add-consumer/{name}"),
                vec![("queue", queue.clone())],
                json!({"queue": queue}),
                format!("add consumer {queue}"),
            ),
            (
                format!("/api/worker/queue/cancel-consumer/{name}"),
                vec![("queue", queue.clone())],
                json!({"queue": queue}),
                format!("no longer consuming from {queue}"),
            ),
            (
                "/api/task/rate-limit/celadon_tasks.add".into(),
                vec![("workername", name.clone()), ("ratelimit", "10/m".into())],
                json!({"workername": name, "ratelimit": "10/m"}),
                "new rate limit set successfully".into(),
            ),
            (
                "/api/task/timeout/celadon_tasks.add".into(),
                vec![
                    ("workername", name.clone()),
                    ("soft", "30".into()),
                    ("hard", "60.5".into()),
                ],
                json!({"workername": name, "soft": 30, "hard": 60.5}),
                "time limits set successfully".into(),
            ),
        ];
        for (path, pairs, body, says) in cases {
            let form: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F")))
                .collect::<Vec<_>>()
                .join("&");
            let (status, answer) = match way {
                Way::Query => c.celadon.post_as(&format!("{path}?{form}"), None, "").await,
                Way::Form => c.celadon.post_as(&path, FORM, &form).await,
                Way::Json => c.celadon.post_as(&path, None, &body.to_string()).await,
            };
            assert_eq!(status, 200, "{way:?} {path}: {answer}");
            assert_eq!(answer["message"], says, "{way:?} {path}: {answer}");
        }
    }
    c.celadon.stop().await.unwrap();
}
