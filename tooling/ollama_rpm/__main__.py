from ollama_rpm.cli import main

raise SystemExit(main())
