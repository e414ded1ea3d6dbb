"""The spaCy classifier: custom components, the trained model's wrapper, and its building."""

from mailbot.classifiers.spacy_pipeline.classifier import SpacyClassifier

__all__ = ["SpacyClassifier"]
