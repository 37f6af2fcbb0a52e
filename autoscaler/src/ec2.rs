//! EC2 through the AWS SDK: what the autoscaler owns, the sizes of instance types, launches
//! that are never doubled, and terminations of its own instances only.

use crate::config::{Market, Pool};
use crate::error::Error;
use crate::plan::{Instance, Launch, Size};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, InstanceMarketOptionsRequest, InstanceType, LaunchTemplateSpecification, MarketType, ResourceType, Tag,
    TagSpecification,
};
use std::collections::HashMap;

/// The tag that marks what the autoscaler of a cluster launched (the Terraform module's IAM
/// policy lets it terminate nothing else).
pub const OWNER_TAG: &str = "agora:autoscaler";
pub const CLUSTER_TAG: &str = "agora:cluster";
pub const ROLE_TAG: &str = "agora:role";
pub const POOL_TAG: &str = "agora:pool";
/// The launch's client token, so that a retry whose first try may have launched can look.
pub const LAUNCH_TAG: &str = "agora:launch";
/// Tries of one launch (the first and its retries).
pub const TRIES: u32 = 4;

pub struct Ec2 {
    client: aws_sdk_ec2::Client,
    cluster: String,
}

/// How a launch went wrong, which says what to do next.
#[derive(Debug, PartialEq)]
pub enum LaunchError {
    /// EC2 has no capacity for this type, zone or market now: try another.
    Capacity(String),
    /// Too many requests: the same launch later.
    Throttled(String),
    /// Anything else (a bad parameter, a refusal): this kind of launch backs off.
    Failed(String),
}

impl Ec2 {
    /// A client for `region` (default: the SDK's), at `endpoint` if given (an emulator).
    pub async fn connect(cluster: &str, region: Option<&str>, endpoint: Option<&str>) -> Ec2 {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        // Without them a call whose answer never comes would hold the round, and the lease's
        // renewal, forever.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_attempt_timeout(std::time::Duration::from_secs(20))
            .operation_timeout(std::time::Duration::from_secs(60))
            .build();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).timeout_config(timeouts);
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        Ec2 { client: aws_sdk_ec2::Client::new(&sdk), cluster: cluster.to_string() }
    }

    fn owner_filter(&self) -> Filter {
        Filter::builder().name(format!("tag:{OWNER_TAG}")).values(&self.cluster).build()
    }

    /// The instances this cluster's autoscaler launched that are pending or running.
    pub async fn owned(&self) -> Result<Vec<Instance>, Error> {
        self.describe(vec![self.owner_filter()]).await
    }

    async fn describe(&self, mut filters: Vec<Filter>) -> Result<Vec<Instance>, Error> {
        filters.push(Filter::builder().name("instance-state-name").values("pending").values("running").build());
        let mut pages = self.client.describe_instances().set_filters(Some(filters)).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("DescribeInstances", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let tag = |key: &str| {
                    instance
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(key))
                        .and_then(|t| t.value())
                        .unwrap_or("")
                        .to_string()
                };
                let Some(id) = instance.instance_id() else { continue };
                out.push(Instance {
                    id: id.to_string(),
                    pool: tag(POOL_TAG),
                    instance_type: instance.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    subnet: instance.subnet_id().unwrap_or("").to_string(),
                    zone: instance.placement().and_then(|p| p.availability_zone()).unwrap_or("").to_string(),
                    launched_at: instance.launch_time().map(|t| t.as_secs_f64()).unwrap_or(0.0),
                });
            }
        }
        Ok(out)
    }

    /// The vCPUs and memory of each of `types`.
    pub async fn sizes(&self, types: &[String]) -> Result<HashMap<String, Size>, Error> {
        let request = types
            .iter()
            .fold(self.client.describe_instance_types(), |r, t| r.instance_types(InstanceType::from(t.as_str())));
        let out = request.send().await.map_err(|e| sdk_error("DescribeInstanceTypes", e))?;
        let mut sizes = HashMap::new();
        for info in out.instance_types() {
            let (Some(name), Some(vcpus), Some(mem)) = (
                info.instance_type(),
                info.v_cpu_info().and_then(|v| v.default_v_cpus()),
                info.memory_info().and_then(|m| m.size_in_mib()),
            ) else {
                continue;
            };
            sizes.insert(name.as_str().to_string(), Size { vcpus: f64::from(vcpus), mem_mib: mem as f64 });
        }
        Ok(sizes)
    }

    /// The availability zone of each of `subnets`.
    pub async fn zones(&self, subnets: &[String]) -> Result<HashMap<String, String>, Error> {
        let out = self
            .client
            .describe_subnets()
            .set_subnet_ids(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSubnets", e))?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.subnet_id()?.to_string(), s.availability_zone()?.to_string())))
            .collect())
    }

    /// One try to launch `count` instances of `instance_type` in `subnet` for `pool`, under
    /// the client token `token`. A try whose answer was lost (a timeout, a 5xx) may have
    /// launched: a retry (`retry`) first looks for the instances tagged with the token (EC2
    /// itself answers a repeated token with the first launch; emulators may not).
    pub async fn try_launch(
        &self,
        pool: &Pool,
        launch: &Launch,
        token: &str,
        market: Option<MarketType>,
        retry: bool,
    ) -> Result<Vec<String>, Attempt> {
        if retry {
            let launched = self.launched_with(token).await.map_err(|e| Attempt::Again(e.to_string()))?;
            if !launched.is_empty() {
                return Ok(launched);
            }
        }
        self.run_instances(pool, launch, token, market).await
    }

    /// The instances tagged with a launch's token: what a try whose answer was lost launched.
    pub async fn launched_with(&self, token: &str) -> Result<Vec<String>, Error> {
        let filter = Filter::builder().name(format!("tag:{LAUNCH_TAG}")).values(token).build();
        Ok(self.describe(vec![filter]).await?.into_iter().map(|i| i.id).collect())
    }

    async fn run_instances(
        &self,
        pool: &Pool,
        launch: &Launch,
        token: &str,
        market: Option<MarketType>,
    ) -> Result<Vec<String>, Attempt> {
        let mut tags = TagSpecification::builder().resource_type(ResourceType::Instance);
        let mut all: Vec<(String, String)> = pool.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.extend([
            (OWNER_TAG.to_string(), self.cluster.clone()),
            (CLUSTER_TAG.to_string(), self.cluster.clone()),
            (ROLE_TAG.to_string(), "agent".to_string()),
            (POOL_TAG.to_string(), pool.name.clone()),
            (LAUNCH_TAG.to_string(), token.to_string()),
            ("Name".to_string(), format!("{}-agent", self.cluster)),
        ]);
        for (k, v) in all {
            tags = tags.tags(Tag::builder().key(k).value(v).build());
        }
        let count = i32::try_from(launch.count).unwrap_or(i32::MAX);
        let mut request = self
            .client
            .run_instances()
            .client_token(token)
            .min_count(1)
            .max_count(count)
            .instance_type(InstanceType::from(launch.instance_type.as_str()))
            .subnet_id(&launch.subnet)
            .tag_specifications(tags.build());
        if let Some(template) = &pool.launch_template {
            request = request.launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&template.id)
                    .version(&template.version)
                    .build(),
            );
        }
        if let Some(image) = &pool.image_id {
            request = request.image_id(image);
        }
        if let Some(file) = &pool.user_data_file {
            use base64::Engine;
            let data = std::fs::read(file)
                .map_err(|e| Attempt::Final(LaunchError::Failed(format!("{}: {e}", file.display()))))?;
            request = request.user_data(base64::engine::general_purpose::STANDARD.encode(data));
        }
        if let Some(market) = market {
            request =
                request.instance_market_options(InstanceMarketOptionsRequest::builder().market_type(market).build());
        }
        // The SDK's own retries would resend without looking for what the first try launched.
        let no_retries =
            aws_sdk_ec2::config::Builder::default().retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled());
        match request.customize().config_override(no_retries).send().await {
            Ok(out) => Ok(out.instances().iter().filter_map(|i| i.instance_id().map(str::to_string)).collect()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Terminates those of `ids` that carry this cluster's owner tag, and only those.
    pub async fn terminate(&self, ids: &[String]) -> Result<Vec<String>, Error> {
        let ours: Vec<String> = self.owned().await?.into_iter().map(|i| i.id).filter(|id| ids.contains(id)).collect();
        if ours.is_empty() {
            return Ok(ours);
        }
        self.client
            .terminate_instances()
            .set_instance_ids(Some(ours.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("TerminateInstances", e))?;
        Ok(ours)
    }
}

/// The markets a pool tries, in order: `None` is on-demand (EC2's default, no market option).
pub fn markets(market: Market) -> Vec<Option<MarketType>> {
    match market {
        Market::OnDemand => vec![None],
        Market::Spot => vec![Some(MarketType::Spot)],
        Market::SpotThenOnDemand => vec![Some(MarketType::Spot), None],
    }
}

/// How a try went wrong.
#[derive(Debug)]
pub enum Attempt {
    Final(LaunchError),
    /// The launch may or may not have happened, or was throttled: look, then try again.
    Again(String),
}

const CAPACITY_CODES: [&str; 6] = [
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InstanceLimitExceeded",
    "Unsupported",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
];
const THROTTLE_CODES: [&str; 3] = ["RequestLimitExceeded", "Throttling", "ThrottlingException"];

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> Attempt {
    let message = format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or(&format!("{e:?}")));
    match &e {
        SdkError::ServiceError(_) => match e.code() {
            Some(code) if CAPACITY_CODES.contains(&code) => Attempt::Final(LaunchError::Capacity(message)),
            Some(code) if THROTTLE_CODES.contains(&code) => Attempt::Again(message),
            Some(code) if code.starts_with("Internal") || code == "Unavailable" || code == "ServiceUnavailable" => {
                Attempt::Again(message)
            }
            _ => Attempt::Final(LaunchError::Failed(message)),
        },
        // No answer, or an answer that could not be read: it may have launched.
        _ => Attempt::Again(format!("{e:?}")),
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    operation: &'static str,
    e: SdkError<E, R>,
) -> Error {
    Error::Ec2 {
        operation,
        code: e.code().map(str::to_string),
        message: e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn on_demand_pools_launch_without_a_market_option() {
        assert_eq!(super::markets(crate::config::Market::OnDemand).len(), 1);
        assert_eq!(super::markets(crate::config::Market::SpotThenOnDemand).len(), 2);
    }
}
