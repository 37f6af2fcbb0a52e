//! A whole framework in one page: it registers, launches one task on the first offer that
//! fits, declines the others, prints the task's output, and tears itself down when the task
//! ends. Its updates are acknowledged by the subscription.
//!
//! ```sh
//! agora dev &                                   # in another terminal
//! export AGORA_ADDR=http://127.0.0.1:5050 AGORA_TOKEN=$(cat ~/.local/share/agora/admin.token)
//! cargo run -p agora-client --example framework -- 'echo hello from Agora'
//! ```

use agora_api::framework::{Accept, Decline, Filters, FrameworkEvent, Operation, RegisterFramework, Roles};
use agora_api::operator::LogQuery;
use agora_api::{Command, Resources, TaskInfo, TaskState};
use agora_client::{Client, ClientError, SubscribeOptions};

/// Runs `line` as a task of 0.1 CPU and 32 MiB; returns its final state and its output.
pub async fn run_once(client: &Client, line: &str) -> Result<(TaskState, String), ClientError> {
    let registration = RegisterFramework::new("example").failover_timeout(60.0);
    let options = SubscribeOptions { acknowledge: true, ..SubscribeOptions::default() };
    let mut framework = client.subscribe(registration, options).await?;
    let id = framework.framework_id().clone();
    let wanted = Resources { cpus: 0.1, mem: 32.0, ..Resources::default() };
    let mut launched = false;
    let state = loop {
        match framework.next().await? {
            FrameworkEvent::Offers(offers) => {
                let mut offer_ids: Vec<_> = offers.offers.iter().map(|o| o.id.clone()).collect();
                let fitting = offers.offers.iter().find(|o| !launched && wanted.fits_in(&o.resources));
                if let Some(offer) = fitting {
                    let task =
                        TaskInfo::new("example", offer.agent_id.clone(), wanted.clone(), Command::Shell(line.into()));
                    let operations = vec![Operation::Launch { tasks: vec![task] }];
                    client
                        .accept(
                            &id,
                            &Accept { offer_ids: vec![offer.id.clone()], operations, filters: Filters::default() },
                        )
                        .await?;
                    offer_ids.retain(|o| o != &offer.id);
                    launched = true;
                    // One task is all it wants.
                    client.suppress(&id, &Roles::default()).await?;
                }
                if !offer_ids.is_empty() {
                    client.decline(&id, &Decline { offer_ids, filters: Filters::default() }).await?;
                }
            }
            FrameworkEvent::Update(update) if update.status.state.is_terminal() => break update.status.state,
            _ => {}
        }
    };
    let query = LogQuery { framework_id: Some(id), ..LogQuery::default() };
    let output = client.task_logs(&"example".into(), &query).await?;
    framework.teardown().await?;
    Ok((state, String::from_utf8_lossy(&output.data).into_owned()))
}

#[allow(dead_code)] // Run as a test from the CLI's end-to-end tests, which call `run_once`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("AGORA_ADDR").unwrap_or_else(|_| "http://127.0.0.1:5050".into());
    let token = std::env::var("AGORA_TOKEN").map_err(|_| "set AGORA_TOKEN to a framework or admin token")?;
    let line = std::env::args().nth(1).unwrap_or_else(|| "echo hello from Agora".into());
    let (state, output) = run_once(&Client::new(&addr, &token)?, &line).await?;
    print!("{output}");
    println!("the task is {}", state.as_str());
    Ok(())
}
