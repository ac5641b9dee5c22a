//! OpenCode's provider ids (models.dev's, as `providerID` records them) →
//! the host's: the company that bills the call, whose id the price table
//! uses. A provider not listed here (GitHub Copilot, OpenCode Zen, a local
//! model, a custom endpoint) bills in a way the table does not price, so its
//! calls are kept under [`OTHER`] with the provider in the model's name, and
//! show as unpriced, never as $0.

use billing_records::ProviderPayload;

/// The host provider of calls whose provider has no prices in the table.
pub const OTHER: &str = "opencode";

/// `(OpenCode's id, the host's id)`. Vertex and Bedrock resell the makers'
/// models at the makers' list prices, which is what the table holds.
const KNOWN: &[(&str, &str)] = &[
    ("anthropic", "anthropic"),
    ("google-vertex-anthropic", "anthropic"),
    ("openai", "openai"),
    ("azure", "azure"),
    ("google", "google"),
    ("google-vertex", "google"),
    ("openrouter", "openrouter"),
    ("amazon-bedrock", "aws"),
    ("deepseek", "deepseek"),
    ("xai", "x-ai"),
    ("mistral", "mistral"),
    ("groq", "groq"),
    ("cerebras", "cerebras"),
    ("moonshotai", "moonshotai"),
    ("moonshotai-cn", "moonshotai"),
    ("zhipuai", "zhipuai"),
    ("zai", "zhipuai"),
    ("fireworks-ai", "fireworks"),
    ("togetherai", "together"),
    ("perplexity", "perplexity"),
    ("cohere", "cohere"),
    ("minimax", "minimax"),
    ("novita-ai", "novita"),
];

/// How each host provider is shown: its id written for people.
const NAMES: &[(&str, &str)] = &[
    ("anthropic", "Anthropic"),
    ("openai", "OpenAI"),
    ("azure", "Azure"),
    ("google", "Google"),
    ("openrouter", "OpenRouter"),
    ("aws", "AWS"),
    ("deepseek", "DeepSeek"),
    ("x-ai", "xAI"),
    ("mistral", "Mistral"),
    ("groq", "Groq"),
    ("cerebras", "Cerebras"),
    ("moonshotai", "Moonshot AI"),
    ("zhipuai", "Zhipu AI"),
    ("fireworks", "Fireworks"),
    ("together", "Together"),
    ("perplexity", "Perplexity"),
    ("cohere", "Cohere"),
    ("minimax", "MiniMax"),
    ("novita", "Novita"),
    (OTHER, "OpenCode"),
];

/// Whose prices a call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// One the price table knows, by the host's id.
    Known {
        /// The host's provider id.
        id: &'static str,
    },
    /// Any other: kept under [`OTHER`].
    Other,
}

impl Provider {
    /// The host's provider id.
    pub fn id(&self) -> &'static str {
        match self {
            Provider::Known { id } => id,
            Provider::Other => OTHER,
        }
    }

    /// Whether OpenCode, before it recorded `tokens.total`, had reasoning
    /// inside `output` for this provider: OpenAI's SDK counted it there,
    /// Anthropic's and Google's apart.
    pub fn counts_reasoning_in_output(&self) -> bool {
        matches!(self, Provider::Known { id: "openai" | "azure" })
    }
}

/// The host provider of OpenCode's `providerID`.
pub fn of(opencode_id: &str) -> Provider {
    KNOWN
        .iter()
        .find(|(oc, _)| *oc == opencode_id)
        .map_or(Provider::Other, |(_, id)| Provider::Known { id })
}

/// Every host provider the plugin may send calls for (its `observes`).
pub fn observed() -> Vec<&'static str> {
    NAMES.iter().map(|(id, _)| *id).collect()
}

/// How `id` is described to the host.
pub fn describe(id: &str) -> Option<ProviderPayload> {
    NAMES.iter().find(|(i, _)| *i == id).map(|(i, name)| ProviderPayload::new(i, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_provider_is_named_and_observed() {
        for (oc, id) in KNOWN {
            assert_eq!(of(oc).id(), *id);
            assert!(describe(id).is_some(), "{id}");
        }
        assert_eq!(of("github-copilot"), Provider::Other);
        assert_eq!(of(""), Provider::Other);
        let observed = observed();
        assert!(observed.contains(&OTHER) && observed.len() == NAMES.len());
    }

    #[test]
    fn display_names_are_the_ids_written_for_people() {
        // The host refuses a name whose letters and digits differ from the id's.
        let key = |s: &str| -> String {
            s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
        };
        for (id, name) in NAMES {
            assert_eq!(key(id), key(name), "{id}");
        }
    }
}
