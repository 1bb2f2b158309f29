//! An in-process fake of the Kubernetes API for reconcile tests: it keeps the objects
//! written to it, records every request, and answers chosen requests with an error.
//! The cluster tests against the real kube-apiserver remain the proof; this layer reaches
//! the paths they reach slowly (a failed write, a conflict, drift) in milliseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub body: Value,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    /// (method, path fragment, status code): the first matching request fails.
    failures: Vec<(Method, String, u16)>,
}

#[derive(Clone, Default)]
pub struct FakeApi(Arc<Mutex<State>>);

fn status(code: u16, message: &str) -> Value {
    let reason = match code {
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        422 => "Invalid",
        _ => "InternalError",
    };
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code})
}

impl FakeApi {
    /// A client whose every request this fake answers.
    pub fn client(&self) -> Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let fake = fake.clone();
            async move { Ok::<_, std::convert::Infallible>(fake.answer(request).await) }
        });
        Client::new(service, "default")
    }

    /// Fail the next `method` request whose path contains `fragment` with `code`.
    pub fn fail(&self, method: Method, fragment: &str, code: u16) {
        self.0
            .lock()
            .unwrap()
            .failures
            .push((method, fragment.into(), code));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.0.lock().unwrap().requests.clone()
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_write).collect()
    }

    pub fn forget_requests(&self) {
        self.0.lock().unwrap().requests.clear();
    }

    /// Store `object` at `path`, as a fixture.
    pub fn insert(&self, path: &str, object: Value) {
        self.0.lock().unwrap().objects.insert(path.into(), object);
    }

    /// Every stored object whose path contains `fragment`.
    pub fn objects(&self, fragment: &str) -> Vec<Value> {
        let state = self.0.lock().unwrap();
        state
            .objects
            .iter()
            .filter(|(p, _)| p.contains(fragment))
            .map(|(_, o)| o.clone())
            .collect()
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = parts.uri.path().to_string();
        let (code, answer) = self.handle(&parts.method, &path, body);
        Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap()
    }

    fn handle(&self, method: &Method, path: &str, body: Value) -> (u16, Value) {
        let mut state = self.0.lock().unwrap();
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.into(),
            body: body.clone(),
        });
        if let Some(i) = state
            .failures
            .iter()
            .position(|(m, f, _)| m == method && path.contains(f.as_str()))
        {
            let (_, _, code) = state.failures.remove(i);
            return (
                code,
                status(code, &format!("injected {code} for {method} {path}")),
            );
        }
        let objects = &mut state.objects;
        match *method {
            Method::GET => match objects.get(path) {
                Some(object) => (200, object.clone()),
                None if path.ends_with('s') => {
                    let prefix = format!("{path}/");
                    let items: Vec<Value> = objects
                        .iter()
                        .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                        .map(|(_, o)| o.clone())
                        .collect();
                    (
                        200,
                        json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}),
                    )
                }
                None => (404, status(404, "not found")),
            },
            Method::PATCH => match path.strip_suffix("/status") {
                Some(object_path) => {
                    let object = objects.entry(object_path.into()).or_insert_with(|| body.clone());
                    object["status"] = body["status"].clone();
                    (200, object.clone())
                }
                None => {
                    let mut body = body;
                    // The API server gives a Service its cluster IP and keeps it.
                    if path.contains("/services/") {
                        let kept = objects.get(path).map(|o| o["spec"]["clusterIP"].clone());
                        body["spec"]["clusterIP"] = kept.unwrap_or_else(|| "10.128.0.42".into());
                    }
                    objects.insert(path.into(), body.clone());
                    (200, body)
                }
            },
            Method::POST => {
                let name = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or("generated")
                    .to_string();
                let object_path = format!("{path}/{name}");
                if objects.contains_key(&object_path) {
                    return (409, status(409, &format!("{name} already exists")));
                }
                let mut body = body;
                body["metadata"]["resourceVersion"] = "1".into();
                objects.insert(object_path, body.clone());
                (201, body)
            }
            // A replace succeeds only against the version it was based on, as the API server's does.
            Method::PUT => {
                let Some(stored) = objects.get(path) else {
                    return (404, status(404, "not found"));
                };
                let current = stored["metadata"]["resourceVersion"].as_str().unwrap_or("0");
                if body["metadata"]["resourceVersion"].as_str() != Some(current) {
                    return (409, status(409, "the object has been modified"));
                }
                let next = current.parse::<u64>().unwrap_or(0) + 1;
                let mut body = body;
                body["metadata"]["resourceVersion"] = next.to_string().into();
                objects.insert(path.into(), body.clone());
                (200, body)
            }
            Method::DELETE => {
                objects.remove(path);
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                )
            }
            _ => (405, status(405, "not supported by the fake")),
        }
    }
}
