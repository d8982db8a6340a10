
(define (problem plan_trial_T20240101_000000_000905)
(:domain alfred)
(:objects
agent1 - agent
        AlarmClock - object
        Apple - object
        BaseballBat - object
        BasketBall - object
        Bathtub - object
        Blinds - object
        Book - object
        Boots - object
        Bowl - object
        Box - object
        Bread - object
        ButterKnife - object
        CD - object
        Candle - object
        CellPhone - object
        Chair - object
        Cloth - object
        CreditCard - object
        Cup - object
        Curtains - object
        DeskLamp - object
        DishSponge - object
        Egg - object
        FloorLamp - object
        Footstool - object
        Fork - object
        Glassbottle - object
        HandTowel - object
        HousePlant - object
        Kettle - object
        KeyChain - object
        Knife - object
        Ladle - object
        Laptop - object
        LaundryHamperLid - object
        Lettuce - object
        LightSwitch - object
        Mirror - object
        Mug - object
        Newspaper - object
        Painting - object
        Pan - object
        PaperTowel - object
        PaperTowelRoll - object
        Pen - object
        Pencil - object
        PepperShaker - object
        Pillow - object
        Plate - object
        Plunger - object
        Poster - object
        Pot - object
        Potato - object
        RemoteControl - object
        SaltShaker - object
        ScrubBrush - object
        ShowerDoor - object
        ShowerGlass - object
        Sink - object
        SoapBar - object
        SoapBottle - object
        Spatula - object
        Spoon - object
        SprayBottle - object
        Statue - object
        StoveKnob - object
        TeddyBear - object
        Television - object
        TennisRacket - object
        TissueBox - object
        ToiletPaper - object
        ToiletPaperRoll - object
        Tomato - object
        Towel - object
        Vase - object
        Watch - object
        WateringCan - object
        Window - object
        WineBottle - object
        AlarmClockType - otype
        AppleType - otype
        BaseballBatType - otype
        BasketBallType - otype
        BathtubType - otype
        BlindsType - otype
        BookType - otype
        BootsType - otype
        BowlType - otype
        BoxType - otype
        BreadType - otype
        ButterKnifeType - otype
        CDType - otype
        CandleType - otype
        CellPhoneType - otype
        ChairType - otype
        ClothType - otype
        CreditCardType - otype
        CupType - otype
        CurtainsType - otype
        DeskLampType - otype
        DishSpongeType - otype
        EggType - otype
        FloorLampType - otype
        FootstoolType - otype
        ForkType - otype
        GlassbottleType - otype
        HandTowelType - otype
        HousePlantType - otype
        KettleType - otype
        KeyChainType - otype
        KnifeType - otype
        LadleType - otype
        LaptopType - otype
        LaundryHamperLidType - otype
        LettuceType - otype
        LightSwitchType - otype
        MirrorType - otype
        MugType - otype
        NewspaperType - otype
        PaintingType - otype
        PanType - otype
        PaperTowelType - otype
        PaperTowelRollType - otype
        PenType - otype
        PencilType - otype
        PepperShakerType - otype
        PillowType - otype
        PlateType - otype
        PlungerType - otype
        PosterType - otype
        PotType - otype
        PotatoType - otype
        RemoteControlType - otype
        SaltShakerType - otype
        ScrubBrushType - otype
        ShowerDoorType - otype
        ShowerGlassType - otype
        SinkType - otype
        SoapBarType - otype
        SoapBottleType - otype
        SpatulaType - otype
        SpoonType - otype
        SprayBottleType - otype
        StatueType - otype
        StoveKnobType - otype
        TeddyBearType - otype
        TelevisionType - otype
        TennisRacketType - otype
        TissueBoxType - otype
        ToiletPaperType - otype
        ToiletPaperRollType - otype
        TomatoType - otype
        TowelType - otype
        VaseType - otype
        WatchType - otype
        WateringCanType - otype
        WindowType - otype
        WineBottleType - otype
        ArmChairType - rtype
        BathtubBasinType - rtype
        BedType - rtype
        CabinetType - rtype
        CartType - rtype
        CoffeeMachineType - rtype
        CoffeeTableType - rtype
        CounterTopType - rtype
        DeskType - rtype
        DiningTableType - rtype
        DrawerType - rtype
        DresserType - rtype
        FridgeType - rtype
        GarbageCanType - rtype
        HandTowelHolderType - rtype
        LaundryHamperType - rtype
        MicrowaveType - rtype
        OttomanType - rtype
        PaintingHangerType - rtype
        SafeType - rtype
        ShelfType - rtype
        SideTableType - rtype
        SinkBasinType - rtype
        SofaType - rtype
        StoveBurnerType - rtype
        TVStandType - rtype
        ToasterType - rtype
        ToiletType - rtype
        ToiletPaperHangerType - rtype
        TowelHolderType - rtype
        Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 - object
        Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 - object
        Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 - object
        Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 - object
        CounterTop_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 - receptacle
        DiningTable_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 - receptacle
        Fridge_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 - receptacle
        loc_bar_0_bar_0_bar_0_bar_30 - location
        loc_bar_2_bar__minus_2_bar_1_bar_30 - location
        loc_bar_4_bar__minus_4_bar_2_bar_30 - location
        loc_bar_6_bar__minus_6_bar_3_bar_30 - location
        )

(:init
        (receptacleType DiningTable_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 DiningTableType)
        (receptacleAtLocation DiningTable_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (objectType Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 AppleType)
        (inReceptacle Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 DiningTable_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00)
        (objectAtLocation Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (pickupable Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (cleanable Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (heatable Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (coolable Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (sliceable Apple_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (objectType Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 BreadType)
        (inReceptacle Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 DiningTable_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00)
        (objectAtLocation Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (pickupable Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20)
        (heatable Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20)
        (coolable Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20)
        (sliceable Bread_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20)
        (receptacleType Fridge_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 FridgeType)
        (receptacleAtLocation Fridge_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 loc_bar_4_bar__minus_4_bar_2_bar_30)
        (openable Fridge_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00)
        (objectType Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 EggType)
        (inReceptacle Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 Fridge_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00)
        (objectAtLocation Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 loc_bar_4_bar__minus_4_bar_2_bar_30)
        (pickupable Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (cleanable Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (heatable Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (coolable Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (sliceable Egg_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (receptacleType CounterTop_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 CounterTopType)
        (receptacleAtLocation CounterTop_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 loc_bar_6_bar__minus_6_bar_3_bar_30)
        (objectType Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 KnifeType)
        (inReceptacle Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 CounterTop_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00)
        (objectAtLocation Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 loc_bar_6_bar__minus_6_bar_3_bar_30)
        (pickupable Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10)
        (cleanable Knife_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10)
        (canContain CounterTopType AppleType)
        (canContain CounterTopType BreadType)
        (canContain CounterTopType EggType)
        (canContain CounterTopType KnifeType)
        (canContain DiningTableType AppleType)
        (canContain DiningTableType BreadType)
        (canContain DiningTableType EggType)
        (canContain DiningTableType KnifeType)
        (canContain FridgeType AppleType)
        (canContain FridgeType BreadType)
        (canContain FridgeType EggType)
        (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
        )

        (:goal
            (and
                (exists (?r - receptacle)
                    (exists (?o - object)
                        (and
                            (coolable ?o)
                            (objectType ?o AppleType)
                            (receptacleType ?r CounterTopType)
                            (isCool ?o)
                            (inReceptacle ?o ?r)
                        )
                    )
                )
            )
        )
    )
    