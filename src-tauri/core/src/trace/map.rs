//! The package's result as the estimate contract: the same totals and breakdown as the analytic engine, the
//! same CUDA context figure and the same fit verdict, plus where the peak happened.

use super::protocol::TraceResult;
use super::{TraceFailure, TraceInfo, TraceOutcome};
use crate::estimate::band::{band, BandInputs, MachineSide, SlackRange};
use crate::estimate::plan::Plan;
use crate::estimate::{fit, EngineKind, Estimate, LengthBytes, Notes, PerGpu, CUDA_CONTEXT_BYTES};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// Map `result` for `plan`. The package promises that the components sum to the allocated peak and that
/// reserved covers allocated; a result that breaks either is refused, not printed. `lengths` are the figures the
/// band's lengths doubt reads ([`super::PreparedTrace::lengths`]); without them, the traced peak's own.
pub fn to_outcome(
    mut result: TraceResult,
    plan: &Plan,
    lengths: Option<LengthBytes>,
    model_notes: &[String],
    model_messages: &[Message],
) -> Result<TraceOutcome> {
    // Outside any module the package says "" rather than null; one spelling for the UI.
    let no_empty = |m: &mut Option<String>| {
        if m.as_deref() == Some("") {
            *m = None;
        }
    };
    no_empty(&mut result.peak.module);
    result
        .timeline
        .iter_mut()
        .for_each(|p| no_empty(&mut p.module));
    let c = result.components;
    let allocated = result.allocated_peak_bytes;
    let broken = |what: String| {
        Err(Error::trace(
            TraceFailure::Protocol,
            format!("the trace's result is inconsistent: {what}"),
        ))
    };
    if c.sum() != allocated {
        return broken(format!(
            "its components sum to {} bytes, its allocated peak is {allocated}",
            c.sum()
        ));
    }
    let reserved = result.reserved_peak_bytes;
    if reserved < allocated {
        return broken(format!(
            "reserved peak {reserved} bytes is below the allocated peak {allocated}"
        ));
    }
    let managed = result.managed_bytes;
    let device = reserved
        .checked_add(managed)
        .and_then(|d| d.checked_add(CUDA_CONTEXT_BYTES));
    let Some(device) = device else {
        return broken("the device peak overflows 64 bits".into());
    };
    // The trace replays the allocator, so its reserved peak is known for the steps it traced; the band keeps
    // the method's spread (the model code of other frameworks differs from transformers') and the CUDA
    // context's range.
    let slack = SlackRange {
        low_permille: 0,
        high_permille: 0,
    };
    let length_bytes = lengths.unwrap_or(LengthBytes {
        activations: c.activations,
        logits: c.logits,
        expected_stranded: 0,
        older_bnb: 0,
        kept_inputs: 0,
    });
    let range = band(
        plan,
        &BandInputs {
            allocated,
            logits: c.logits,
            lengths: length_bytes,
            reserved,
            managed,
            context: CUDA_CONTEXT_BYTES,
        },
        &MachineSide {
            slack,
            ..MachineSide::default_for(plan)
        },
    );
    let per_gpu = PerGpu {
        components: c,
        allocated_peak_bytes: allocated,
        allocator_overhead_bytes: reserved - allocated,
        reserved_peak_bytes: reserved,
        managed_memory_bytes: managed,
        cuda_context_bytes: CUDA_CONTEXT_BYTES,
        device_peak_bytes: device,
        range: Some(range),
        length_bytes,
        fragmented_bytes: 0,
    };
    let mut notes = Notes::new(true);
    notes.add(|| {
        let message = Message::new(Key::NoteTrace)
            .count("traced", result.layers.traced)
            .count("total", result.layers.total)
            .optional_phrase("rest", result.layers.extrapolated.then_some(Key::NoteTraceExtrapolated));
        let text = format!(
            "trace engine: {} of {} decoder layers traced on fake tensors{}; the caching allocator simulated for reserved",
            result.layers.traced,
            result.layers.total,
            if result.layers.extrapolated {
                ", the rest extrapolated"
            } else {
                ""
            }
        );
        (text, message)
    });
    notes.add(|| {
        (
            format!(
                "CUDA context {} MiB per GPU, as the analytic engine counts it (not visible to torch.cuda.memory_*)",
                CUDA_CONTEXT_BYTES >> 20
            ),
            Message::new(Key::NoteTraceContext).count("mib", CUDA_CONTEXT_BYTES >> 20),
        )
    });
    let (fits, headroom_bytes) = fit(plan, &per_gpu, &mut notes);
    let trace_messages = trace_note_messages(result.note_messages.as_ref(), &result.notes);
    notes.extend_keyed(&result.notes, &trace_messages);
    notes.extend_keyed(model_notes, model_messages);
    Ok(TraceOutcome {
        estimate: Estimate {
            per_gpu,
            cpu_bytes: 0,
            parameters: result.parameters,
            fits,
            headroom_bytes,
            notes: notes.list,
            note_messages: notes.messages,
            engine: Some(EngineKind::Trace),
            peak: Some(result.peak),
            trace: Some(TraceInfo {
                layers: result.layers,
                versions: result.versions,
                elapsed_s: result.elapsed_s,
            }),
            machine_calibration: None,
            import: None,
        },
        timeline: result.timeline,
    })
}

/// The trace's notes as messages, one for each of `notes` in order: a message the package sent for a note when it
/// is one of the trace's keys with exactly that key's arguments ([`Message::check`]), else the note's English as
/// it is. A package that sent no messages, or a list that does not pair with the notes, gives the English for all.
fn trace_note_messages(sent: Option<&serde_json::Value>, notes: &[String]) -> Vec<Message> {
    let sent = match sent {
        Some(serde_json::Value::Array(list)) if list.len() == notes.len() => list.as_slice(),
        _ => &[],
    };
    notes
        .iter()
        .enumerate()
        .map(|(i, text)| {
            sent.get(i)
                .and_then(|v| serde_json::from_value::<Message>(v.clone()).ok())
                .filter(|m| m.key.starts_with(TRACE_NOTE_PREFIX) && m.check().is_ok())
                .unwrap_or_else(|| Message::new(Key::NoteVerbatim).text("text", text.clone()))
        })
        .collect()
}

/// The keys a trace's own notes may name: those of the package (message.rs), not any other of the app's texts.
const TRACE_NOTE_PREFIX: &str = "backend.note.trace.";
