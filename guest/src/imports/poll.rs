//! Poll timing (`nextCronTime`, `lastCronTime`) and the digests of
//! ImageStream and PVC sources, which the snapshot already holds.

use chrono::DateTime;

use super::{format_seconds, kind, CronPass, PassError};
use crate::model::cdi::{
    ANNOTATION_IMAGE_STREAM_DOCKER_REF, ANNOTATION_LAST_CRON_TIME, ANNOTATION_NEXT_CRON_TIME,
    ANNOTATION_SOURCE_DESIRED_DIGEST,
};
use crate::model::core::ImageStream;
use crate::plan::{Poll, PollSource};
use crate::schedule;

/// Decides whether the cron is due for a poll, lists the poll, and keeps
/// `nextCronTime` on the cron.
///
/// | `nextCronTime` | action |
/// |---|---|
/// | empty (a new cron) | poll now |
/// | in the future | no poll |
/// | now or past, or unreadable | poll now |
///
/// In every case `nextCronTime` becomes the schedule's next time after
/// `now`, and the stage is due again then. An empty schedule never polls:
/// such a cron imports only when something else sets its digest.
pub(crate) fn poll(pass: &mut CronPass<'_>) -> Result<(), PassError> {
    let expression = pass.cron.spec.schedule.clone();
    if expression.is_empty() {
        return Ok(());
    }
    let parsed = match schedule::parse(&expression) {
        Ok(parsed) => parsed,
        Err(error) => {
            let warning = pass.warn(
                Some("spec.schedule"),
                format!("invalid schedule {expression:?}: {error}; the cron is not polled"),
            );
            pass.out.warnings.push(warning);
            return Ok(());
        }
    };
    let due = match pass.annotations.get(ANNOTATION_NEXT_CRON_TIME) {
        None => true,
        Some(text) => DateTime::parse_from_rfc3339(text).map_or(true, |t| t <= pass.now),
    };
    match parsed.next_after(pass.now) {
        Some(next) => {
            pass.annotations
                .insert(ANNOTATION_NEXT_CRON_TIME.to_string(), format_seconds(next));
            pass.out.due_at(next);
        }
        None => {
            pass.annotations.remove(ANNOTATION_NEXT_CRON_TIME);
        }
    }
    if due {
        request(pass)?;
    }
    Ok(())
}

/// Lists the poll of the cron's source, and reads the digest of an
/// ImageStream or PVC source from the snapshot.
fn request(pass: &mut CronPass<'_>) -> Result<(), PassError> {
    let Some(source) = pass.cron.spec.template.spec.source.clone() else {
        return Ok(());
    };
    let namespace = pass.namespace().to_string();
    let poll_source = if let Some(registry) = &source.registry {
        if let Some(url) = &registry.url {
            PollSource::Registry {
                url: url.clone(),
                pull_method: registry.pull_method.clone(),
                secret_ref: registry.secret_ref.clone(),
                cert_config_map: registry.cert_config_map.clone(),
                architecture: registry
                    .platform
                    .as_ref()
                    .and_then(|p| p.architecture.clone()),
            }
        } else if let Some(stream) = &registry.image_stream {
            let (name, tag) = split_image_stream(pass, stream)?;
            image_stream_digest(pass, &name, tag.as_deref())?;
            PollSource::ImageStream {
                namespace,
                name,
                tag,
            }
        } else {
            return Ok(());
        }
    } else if let Some(pvc) = &source.pvc {
        let pvc_namespace = pvc
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or(namespace);
        pvc_digest(pass, &pvc_namespace, &pvc.name)?;
        PollSource::Pvc {
            namespace: pvc_namespace,
            name: pvc.name.clone(),
        }
    } else {
        return Ok(());
    };
    pass.out.polls.push(Poll {
        cron: pass.cron_ref(),
        source: poll_source,
    });
    Ok(())
}

fn split_image_stream(
    pass: &CronPass<'_>,
    stream: &str,
) -> Result<(String, Option<String>), PassError> {
    let parts: Vec<&str> = stream.split(':').collect();
    match parts.as_slice() {
        [name] if !name.is_empty() => Ok((name.to_string(), None)),
        [name, tag] if !name.is_empty() && !tag.is_empty() => {
            Ok((name.to_string(), Some(tag.to_string())))
        }
        _ => Err(failed(
            pass,
            format!("Illegal ImageStream name {stream:?}; write <name> or <name>:<tag>"),
        )),
    }
}

fn failed(pass: &CronPass<'_>, message: String) -> PassError {
    pass.fail(
        Some("spec.template.spec.source.registry.imageStream"),
        message,
    )
}

/// Sets the digest to the tag's newest image, or the first tag's when no
/// tag is named, and records its docker reference.
fn image_stream_digest(
    pass: &mut CronPass<'_>,
    name: &str,
    tag: Option<&str>,
) -> Result<(), PassError> {
    let Some(entry) = pass.find(kind::IMAGE_STREAM, name) else {
        return Err(failed(
            pass,
            format!(
                "ImageStream {name} not found in namespace {}",
                pass.namespace()
            ),
        ));
    };
    let stream: ImageStream = crate::error::from_value(&entry.value).map_err(|e| entry.blame(e))?;
    let tags = stream.status.map(|s| s.tags).unwrap_or_default();
    let found = match tag {
        Some(tag) => tags.iter().find(|t| t.tag == tag),
        None => tags.first(),
    };
    let Some(found) = found else {
        return Err(failed(
            pass,
            match tag {
                Some(tag) => format!("ImageStream {name} has no tag {tag}"),
                None => format!("ImageStream {name} has no tags"),
            },
        ));
    };
    let Some(item) = found.items.first() else {
        return Err(failed(
            pass,
            format!("ImageStream {name} tag {} has no items", found.tag),
        ));
    };
    let (digest, reference) = (item.image.clone(), item.docker_image_reference.clone());
    record_digest(pass, &digest);
    pass.annotations
        .insert(ANNOTATION_IMAGE_STREAM_DOCKER_REF.to_string(), reference);
    Ok(())
}

/// Sets the digest of a PVC source to `uid:` plus the PVC's UID.
fn pvc_digest(pass: &mut CronPass<'_>, namespace: &str, name: &str) -> Result<(), PassError> {
    let uid = pass
        .snapshot
        .get(kind::PVC, namespace, name)
        .and_then(|e| e.value.pointer("/metadata/uid"))
        .and_then(|u| u.as_str())
        .map(str::to_string);
    let Some(uid) = uid else {
        return Err(pass.fail(
            Some("spec.template.spec.source.pvc"),
            format!("source PVC {namespace}/{name} not found, or it has no uid"),
        ));
    };
    record_digest(pass, &format!("uid:{uid}"));
    Ok(())
}

fn record_digest(pass: &mut CronPass<'_>, digest: &str) {
    pass.annotations.insert(
        ANNOTATION_LAST_CRON_TIME.to_string(),
        format_seconds(pass.now),
    );
    if pass
        .annotations
        .get(ANNOTATION_SOURCE_DESIRED_DIGEST)
        .map(String::as_str)
        != Some(digest)
    {
        pass.annotations.insert(
            ANNOTATION_SOURCE_DESIRED_DIGEST.to_string(),
            digest.to_string(),
        );
    }
}
