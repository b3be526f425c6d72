"""A stand-in for coqui-tts, which cannot be installed here (it needs torchaudio and torchcodec builds that the
package registry lacks for torch 2.13). It has the real package's ``TTS.api.TTS`` surface that Nexus uses, and
records each call so tests can check what the adapter passed."""  # noqa: N999 - the real package's name
