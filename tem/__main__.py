from tem.cli import main

main()
