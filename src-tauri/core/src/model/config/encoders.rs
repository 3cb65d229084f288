//! Encoder and encoder-decoder models: BERT and T5.

use super::*;

/// BERT as `BertForSequenceClassification` builds it (`modeling_bert.py`): word, position and token-type
/// embeddings with a LayerNorm; per layer `query`/`key`/`value`/attention `dense`, `intermediate.dense`,
/// `output.dense` (all with bias) and two LayerNorms; the pooler `dense` and a `classifier` of `num_labels`
/// (from `id2label`, default 2), counted as the output head.
pub(super) fn bert(c: &Cfg, notes: &mut Vec<Message>) -> Result<(Architecture, ParameterCounts)> {
    let mut d = decoder(c, true)?;
    d.tie = true;
    let h = d.h;
    let inter = c.pos(&["intermediate_size"])?;
    let positions = c.pos_or("max_position_embeddings", 512)?;
    let types = c.pos_or("type_vocab_size", 2)?;
    let labels = match c.get("id2label") {
        Some(Value::Object(m)) if !m.is_empty() => m.len() as u64,
        _ => c.pos_or("num_labels", 2)?,
    };
    let mut b = Build::default();
    b.embedding += w(d.vocab) * w(h);
    b.other(w(positions) * w(h) + w(types) * w(h) + 2 * w(h));
    for name in ["query", "key", "value", "dense"] {
        b.linear(name, h, h, d.layers, true, LinearRole::Attention);
    }
    b.linear("dense", h, inter, d.layers, true, LinearRole::Mlp);
    b.linear("dense", inter, h, d.layers, true, LinearRole::Mlp);
    b.other(w(d.layers) * 4 * w(h));
    b.linear("dense", h, h, 1, true, LinearRole::Mlp);
    b.linear("classifier", h, labels, 1, true, LinearRole::LmHead);
    notes.push(Message::new(Key::NoteModelBert).count("labels", labels));
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), inter, false, None, groups),
        counts,
    ))
}

/// T5 and mT5 (`modeling_t5.py`, `modeling_mt5.py`): shared embedding; encoder blocks with self-attention
/// `q`/`k`/`v`/`o` (d_model → heads·d_kv, no biases) and a feed-forward (`wi` + `wo`, or `wi_0`/`wi_1` + `wo`
/// when `feed_forward_proj` is gated); decoder blocks add cross-attention; the first block of each stack holds
/// the relative position bias (buckets × heads); RMS-style LayerNorms without bias. `num_layers` in the
/// architecture counts encoder and decoder blocks together.
pub(super) fn t5(
    c: &Cfg,
    t: &str,
    notes: &mut Vec<Message>,
) -> Result<(Architecture, ParameterCounts)> {
    let dm = c.pos(&["d_model"])?;
    let enc = c.pos(&["num_layers"])?;
    let dec = c.pos_or("num_decoder_layers", enc)?;
    let heads = c.pos(&["num_heads"])?;
    let dkv = c.pos(&["d_kv"])?;
    let dff = c.pos(&["d_ff"])?;
    let vocab = c.pos(&["vocab_size"])?;
    let buckets = c.pos_or("relative_attention_num_buckets", 32)?;
    let gated = c
        .str_opt("feed_forward_proj")?
        .is_some_and(|s| s.starts_with("gated-"));
    let d = Decoder {
        h: dm,
        layers: enc + dec,
        vocab,
        heads,
        kv_heads: heads,
        head_dim: dkv,
        tie: c.b_or("tie_word_embeddings", t == "t5")?,
    };
    let inner = heads * dkv;
    let attn_blocks = enc + 2 * dec;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    for name in ["q", "k", "v"] {
        b.linear(name, dm, inner, attn_blocks, false, LinearRole::Attention);
    }
    b.linear("o", inner, dm, attn_blocks, false, LinearRole::Attention);
    let ff = enc + dec;
    if gated {
        b.linear("wi_0", dm, dff, ff, false, LinearRole::Mlp);
        b.linear("wi_1", dm, dff, ff, false, LinearRole::Mlp);
    } else {
        b.linear("wi", dm, dff, ff, false, LinearRole::Mlp);
    }
    b.linear("wo", dff, dm, ff, false, LinearRole::Mlp);
    b.other(2 * w(buckets) * w(heads));
    b.other((w(enc) * 2 + w(dec) * 3 + 2) * w(dm));
    notes.push(Message::new(Key::NoteModelEncoderDecoder));
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), dff, gated, None, groups),
        counts,
    ))
}
